"""Inventories for planner tests: one hand-written, and a hypothesis strategy of many."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from local.gaps.rollouts import ADDON_UPDATE_SECONDS, SECONDS_PER_NODE
from local.gaps.timing import CLOCK
from v6migrate import apply
from v6migrate.aws import Clients
from v6migrate.journal import Ledger
from v6migrate.models import (
    Cluster,
    Cni,
    Inventory,
    Ipv6Block,
    MigrationRequest,
    NaclEntry,
    NetworkAcl,
    Node,
    Nodegroup,
    Peering,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    TgwAttachment,
    Vpc,
)

VPC_ID = "vpc-0a"
BLOCK = "2600:1f18:abc:de00::/56"


def subnet(index: int, **changes: Any) -> Subnet:
    base = Subnet(
        subnet_id=f"subnet-{index:04d}",
        availability_zone="eu-west-1a",
        cidr_block=f"10.0.{index}.0/24",
    )
    return base.model_copy(update=changes)


def inventory(**changes: Any) -> Inventory:
    """A small IPv4 estate: 2 public and 2 private subnets, NAT, a TGW and a peering."""
    subnets = tuple(subnet(i) for i in range(4))
    base = Inventory(
        account_id="222222222222",
        region="eu-west-1",
        cluster=Cluster(
            name="orders",
            arn="arn:aws:eks:eu-west-1:222222222222:cluster/orders",
            status="ACTIVE",
            version="1.31",
            ip_family="ipv4",
            vpc_id=VPC_ID,
            cluster_security_group_id="sg-cluster",
        ),
        vpc=Vpc(vpc_id=VPC_ID, owner_id="222222222222", cidr_block="10.0.0.0/16"),
        subnets=subnets,
        route_tables=(
            RouteTable(
                route_table_id="rtb-public",
                subnet_ids=("subnet-0000", "subnet-0001"),
                routes=(
                    Route(destination="10.0.0.0/16", target="local"),
                    Route(destination="0.0.0.0/0", target="igw-1"),
                ),
            ),
            RouteTable(
                route_table_id="rtb-private",
                subnet_ids=("subnet-0002", "subnet-0003"),
                routes=(
                    Route(destination="10.0.0.0/16", target="local"),
                    Route(destination="0.0.0.0/0", target="nat-1"),
                    Route(destination="10.0.0.0/8", target="tgw-1"),
                    Route(destination="10.99.0.0/16", target="pcx-1"),
                ),
            ),
            RouteTable(route_table_id="rtb-main", main=True),
        ),
        security_groups=(
            SecurityGroup(
                group_id="sg-cluster",
                name="eks-cluster-sg",
                role="cluster",
                rules=(SgRule(egress=True, protocol="-1", cidr_ipv4="0.0.0.0/0"),),
            ),
            SecurityGroup(
                group_id="sg-alb",
                name="alb",
                rules=(
                    SgRule(egress=True, protocol="-1", cidr_ipv4="0.0.0.0/0"),
                    SgRule(
                        egress=False,
                        protocol="tcp",
                        from_port=443,
                        to_port=443,
                        cidr_ipv4="0.0.0.0/0",
                    ),
                ),
            ),
        ),
        network_acls=(
            NetworkAcl(
                network_acl_id="acl-default",
                is_default=True,
                entries=tuple(
                    NaclEntry(
                        rule_number=number,
                        egress=egress,
                        protocol="-1",
                        action="allow" if number == 100 else "deny",
                        cidr_ipv4="0.0.0.0/0",
                    )
                    for number in (100, 32767)
                    for egress in (False, True)
                ),
            ),
            NetworkAcl(
                network_acl_id="acl-custom",
                is_default=False,
                subnet_ids=("subnet-0002",),
                entries=(
                    NaclEntry(
                        rule_number=100,
                        egress=False,
                        protocol="-1",
                        action="allow",
                        cidr_ipv4="0.0.0.0/0",
                    ),
                    NaclEntry(
                        rule_number=101,
                        egress=False,
                        protocol="6",
                        action="allow",
                        cidr_ipv4="10.0.0.0/8",
                        port_from=22,
                        port_to=22,
                    ),
                ),
            ),
        ),
        internet_gateway_id="igw-1",
        tgw_attachments=(
            TgwAttachment(
                attachment_id="tgw-attach-1",
                transit_gateway_id="tgw-1",
                state="available",
                ipv6_support=False,
            ),
        ),
        peerings=(
            Peering(
                peering_id="pcx-1",
                status="active",
                peer_vpc_id="vpc-peer",
                peer_owner_id="333333333333",
                peer_region="eu-west-1",
                peer_cidr_block="10.99.0.0/16",
                peer_ipv6_cidrs=("2600:1f18:99:9900::/56",),
                peer_route_tables=(
                    RouteTable(
                        route_table_id="rtb-peer",
                        routes=(Route(destination="10.0.0.0/16", target="pcx-1"),),
                    ),
                ),
            ),
        ),
        nodegroups=(
            Nodegroup(name="system", kind="managed", launch_template_id="lt-1"),
            Nodegroup(name="batch", kind="managed"),
            Nodegroup(
                name="legacy",
                kind="self-managed",
                autoscaling_groups=("legacy",),
                termination_hook=True,
            ),
        ),
        nodes=(
            Node(instance_id="i-1", subnet_id="subnet-0002", nodegroup="system"),
            Node(instance_id="i-2", subnet_id="subnet-0003", nodegroup="batch"),
            Node(instance_id="i-3", subnet_id="subnet-0003", nodegroup="legacy"),
        ),
        cni=Cni(
            managed=True,
            version="v1.18.3-eksbuild.1",
            configuration_values='{"env": {"WARM_IP_TARGET": "5"}}',
        ),
    )
    return base.model_copy(update=changes)


def with_vpc_block(estate: Inventory, block: str = BLOCK) -> Inventory:
    vpc = estate.vpc.model_copy(
        update={"ipv6_blocks": (Ipv6Block(association_id="a-1", cidr=block, state="associated"),)}
    )
    return estate.model_copy(update={"vpc": vpc})


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    """Random estates: up to 60 subnets, some already dual-stack, assorted tables and groups."""
    count = draw(st.integers(min_value=1, max_value=60))
    third_octets = draw(st.lists(st.integers(0, 255), min_size=count, max_size=count, unique=True))
    has_block = draw(st.booleans())
    prefix = draw(st.sampled_from([52, 56, 56, 56]))
    block = "2600:1f18:abc:d000::/52" if prefix == 52 else BLOCK
    taken = draw(
        st.lists(st.integers(0, 15), max_size=min(count, 8), unique=True)
        if has_block
        else st.just([])
    )
    subnets = []
    for position, octet in enumerate(third_octets):
        changes: dict[str, Any] = {"cidr_block": f"10.1.{octet}.0/24"}
        if position < len(taken):
            from v6migrate.cidr import subnet_cidr

            changes.update(
                ipv6_cidr=subnet_cidr(block, taken[position]),
                ipv6_state="associated",
                assign_ipv6_on_creation=draw(st.booleans()),
            )
        subnets.append(subnet(position, **changes))
    tables = []
    for index in range(draw(st.integers(0, 6))):
        target = draw(st.sampled_from(["igw-1", "nat-1", "tgw-1", None]))
        routes = [Route(destination="10.1.0.0/16", target="local")]
        if target:
            routes.append(Route(destination="0.0.0.0/0", target=target))
        if draw(st.booleans()):
            routes.append(Route(destination="10.99.0.0/16", target="pcx-1"))
        tables.append(RouteTable(route_table_id=f"rtb-{index}", routes=tuple(routes)))
    groups = []
    for index in range(draw(st.integers(0, 6))):
        rules = []
        if draw(st.booleans()):
            rules.append(SgRule(egress=True, protocol="-1", cidr_ipv4="0.0.0.0/0"))
        if draw(st.booleans()):
            rules.append(
                SgRule(
                    egress=False, protocol="tcp", from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0"
                )
            )
        groups.append(SecurityGroup(group_id=f"sg-{index}", name=f"g{index}", rules=tuple(rules)))
    nodes = tuple(
        Node(instance_id=f"i-{k}", subnet_id=subnets[k % len(subnets)].subnet_id, nodegroup=group)
        for k, group in enumerate(["system", "batch", "legacy"])
    )
    estate = inventory(
        subnets=tuple(subnets),
        nodes=nodes,
        route_tables=tuple(tables),
        security_groups=tuple(groups),
        egress_only_gateway_id=draw(st.sampled_from([None, "eigw-1"])),
    )
    return with_vpc_block(estate, block) if has_block else estate


def migrate(request: MigrationRequest, target: Clients, ledger: Ledger) -> None:
    """Every stage, the long ones polled with the simulated clock moving on between polls."""
    event = apply.StageInput(request=request, migration_id="m-1")
    apply.run_stage("vpc", event, target, ledger)
    apply.run_stage("attachments", event, target, ledger)
    for stage in ("cni", "nodes"):
        for _ in range(20):
            if apply.advance_stage(stage, event, target, ledger).done:  # type: ignore[arg-type]
                break
            CLOCK.skip(max(ADDON_UPDATE_SECONDS, SECONDS_PER_NODE))
        else:
            raise AssertionError(f"stage {stage} never finished")


def seeded(spec: Any, ledger: Ledger, **options: Any) -> tuple[Clients, MigrationRequest]:
    """`spec` seeded, its target clients, and an apply request whose plan preflight approved
    (migration m-1)."""
    from local.seed import seed
    from v6migrate import preflight
    from v6migrate.aws import target_clients
    from v6migrate.models import PlanOptions

    seed(spec)
    target = target_clients(spec.account_id, spec.region)
    request = MigrationRequest(
        cluster=spec.cluster, account_id=spec.account_id, region=spec.region, mode="apply",
        approval={"mode": "none"},
        options=PlanOptions(**options),
    )  # fmt: skip
    preflight.run(preflight.PreflightInput(request=request, migration_id="m-1"), target, ledger)
    return target, request
