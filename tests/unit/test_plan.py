"""The planner: what it plans, what it refuses, and the properties that make re-runs safe."""

from __future__ import annotations

import ipaddress
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.estates import BLOCK, inventories, inventory, subnet, with_vpc_block
from v6migrate.cidr import subnet_cidr
from v6migrate.models import (
    AddIpv6Route,
    AddNaclIpv6Entry,
    AddPeerIpv6Route,
    AddSecurityGroupIpv6Rule,
    AssociateSubnetIpv6Cidr,
    AssociateVpcIpv6Cidr,
    Cluster,
    Cni,
    CreateEgressOnlyGateway,
    EnableCniIpv6Egress,
    EndpointService,
    Inventory,
    Ipv6Source,
    KubeFacts,
    LoadBalancer,
    NaclEntry,
    Node,
    PlanOptions,
    RollNodegroup,
    Route,
    VpcEndpoint,
)
from v6migrate.plan import plan
from v6migrate.projection import project

DEFAULTS = PlanOptions()


def codes(estate: Inventory, options: PlanOptions = DEFAULTS) -> dict[str, str]:
    return {f.code: f.severity for f in plan(estate, options).findings}


def of_type(estate: Inventory, kind: type, options: PlanOptions = DEFAULTS) -> list:
    return [c for c in plan(estate, options).changes if isinstance(c, kind)]


# --------------------------------------------------------------------------- blockers


def test_cluster_already_ipv6_is_blocked_with_nothing_to_do() -> None:
    # Given a cluster created with the IPv6 family
    estate = inventory()
    ipv6 = estate.model_copy(
        update={"cluster": estate.cluster.model_copy(update={"ip_family": "ipv6"})}
    )
    # When it is planned
    result = plan(ipv6, DEFAULTS)
    # Then the plan is blocked, says there is nothing to migrate, and changes nothing
    assert result.blocked
    assert result.blockers[0].code == "cluster-already-ipv6"
    assert "nothing to migrate" in result.blockers[0].message
    assert result.changes == ()


@pytest.mark.parametrize(
    ("version", "code"),
    [
        ("v1.12.6-eksbuild.2", "cni-too-old"),
        ("v1.12.99", "cni-too-old"),
        ("v1.13.0-eksbuild.1", "cni-below-1.16.3"),
        ("v1.16.0-eksbuild.1", "cni-below-1.16.3"),
        ("v1.16.2-eksbuild.1", "cni-below-1.16.3"),  # the last release with the exit
    ],
)
def test_cni_versions_without_safe_v6_egress_are_blocked(version: str, code: str) -> None:
    # Given nodes without IPv6 and a CNI older than 1.16.3 (DOMAIN.md, VPC CNI)
    estate = inventory(cni=Cni(managed=True, version=version))
    # When planned, Then the CNI blocker names the upgrade to make
    result = plan(estate, DEFAULTS)
    blocker = next(f for f in result.blockers if f.code == code)
    assert "v1.16.3" in blocker.message


def test_cni_between_1_13_and_1_16_3_passes_when_every_node_has_ipv6() -> None:
    # Given CNI 1.16.0, which is only unsafe for nodes without IPv6, and nodes that all have it
    nodes = tuple(n.model_copy(update={"ipv6_addresses": ("2600::1",)}) for n in inventory().nodes)
    estate = inventory(cni=Cni(managed=True, version="v1.16.0-eksbuild.1"), nodes=nodes)
    # When planned, Then nothing blocks on the CNI version
    assert "cni-below-1.16.3" not in codes(estate)


@pytest.mark.parametrize("version", ["v1.16.3-eksbuild.1", "v1.17.0", "v2.0.0"])
def test_cni_from_1_16_3_is_not_blocked(version: str) -> None:
    estate = inventory(cni=Cni(managed=True, version=version))
    assert not plan(estate, DEFAULTS).blocked


def test_disable_pod_v6_blocks_and_says_what_to_remove() -> None:
    config = json.dumps({"env": {"DISABLE_POD_V6": "true"}})
    estate = inventory(cni=Cni(managed=True, version="v1.18.3", configuration_values=config))
    blocker = next(f for f in plan(estate, DEFAULTS).blockers if f.code == "cni-pod-v6-disabled")
    assert "DISABLE_POD_V6" in blocker.message


def test_inactive_cluster_is_blocked() -> None:
    estate = inventory()
    updating = estate.model_copy(
        update={"cluster": Cluster(**{**estate.cluster.model_dump(), "status": "UPDATING"})}
    )
    assert codes(updating)["cluster-not-active"] == "blocker"


def test_more_subnets_than_64s_is_blocked() -> None:
    # Given 257 subnets and a /56, which holds 256 /64s
    subnets = tuple(subnet(i, cidr_block=f"10.{i // 256}.{i % 256}.0/24") for i in range(257))
    # When planned, Then the plan is blocked and suggests a larger block
    result = plan(inventory(subnets=subnets, route_tables=(), nodes=()), DEFAULTS)
    blocker = next(f for f in result.blockers if f.code == "not-enough-ipv6-subnets")
    assert "IPAM" in blocker.message


def test_nodegroup_without_launch_template_warns_how_it_is_replaced() -> None:
    result = plan(inventory(), DEFAULTS)
    warning = next(f for f in result.warnings if f.code == "nodegroup-without-launch-template")
    assert warning.resource == "batch"
    assert "replacement group" in warning.message


def test_nodegroup_without_launch_template_blocks_when_manual_is_asked() -> None:
    options = PlanOptions(nodegroup_without_launch_template="manual")
    assert codes(inventory(), options)["nodegroup-manual-replacement"] == "blocker"


def test_dns64_without_nat64_route_warns() -> None:
    subnets = (subnet(2, dns64=True),)
    assert codes(inventory(subnets=subnets))["dns64-without-nat64"] == "warning"


def test_dns64_with_nat64_route_does_not_warn() -> None:
    subnets = (subnet(2, dns64=True),)
    estate = inventory(subnets=subnets, nat64_route_tables=("rtb-private",))
    assert "dns64-without-nat64" not in codes(estate)


# --------------------------------------------------------------------------- vpc changes


def test_amazon_provided_block_is_default_and_irreversible() -> None:
    [change] = of_type(inventory(), AssociateVpcIpv6Cidr)
    assert change.ipam_pool_id is None
    assert change.netmask_length == 56
    assert change.reversible is False


def test_ipam_pool_source_is_planned_with_its_netmask() -> None:
    options = PlanOptions(ipv6_source=Ipv6Source(ipam_pool_id="ipam-pool-0abc", netmask_length=52))
    [change] = of_type(inventory(), AssociateVpcIpv6Cidr, options)
    assert (change.ipam_pool_id, change.netmask_length) == ("ipam-pool-0abc", 52)


def test_public_tables_route_to_igw_and_private_ones_to_a_new_egress_only_gateway() -> None:
    routes = {c.target: c for c in of_type(inventory(), AddIpv6Route) if c.destination == "::/0"}
    assert routes["rtb-public"].via == "internet-gateway"
    assert routes["rtb-public"].gateway_id == "igw-1"
    assert routes["rtb-private"].via == "egress-only-gateway"
    assert "rtb-main" not in routes  # no default route: stays isolated
    assert len(of_type(inventory(), CreateEgressOnlyGateway)) == 1


def test_existing_egress_only_gateway_is_reused() -> None:
    estate = inventory(egress_only_gateway_id="eigw-9")
    assert of_type(estate, CreateEgressOnlyGateway) == []
    private = next(c for c in of_type(estate, AddIpv6Route) if c.target == "rtb-private")
    assert private.gateway_id == "eigw-9"


def test_security_groups_with_ipv4_egress_get_an_ipv6_twin_cluster_sg_included() -> None:
    targets = {c.target for c in of_type(inventory(), AddSecurityGroupIpv6Rule) if c.egress}
    assert targets == {"sg-cluster", "sg-alb"}


def test_public_ingress_is_not_mirrored_unless_asked() -> None:
    assert not [c for c in of_type(inventory(), AddSecurityGroupIpv6Rule) if not c.egress]
    assert codes(inventory())["sg-public-ingress-ipv4-only"] == "warning"
    mirrored = [
        c
        for c in of_type(
            inventory(), AddSecurityGroupIpv6Rule, PlanOptions(mirror_public_ingress=True)
        )
        if not c.egress
    ]
    assert [(c.target, c.from_port) for c in mirrored] == [("sg-alb", 443)]


def test_custom_nacl_entries_are_mirrored_after_their_ipv4_twin_without_collision() -> None:
    # Given a custom NACL with rule 100 (0.0.0.0/0) and rule 101 taken by another entry
    [entry] = of_type(inventory(), AddNaclIpv6Entry)
    # Then the ::/0 twin of rule 100 takes the next free number, 102
    assert (entry.target, entry.mirrors_rule, entry.rule_number) == ("acl-custom", 100, 102)
    assert codes(inventory())["custom-nacl"] == "warning"


def _with_icmp_entries(*type_codes: tuple[int, int]) -> Inventory:
    base = inventory()
    acl = next(a for a in base.network_acls if a.network_acl_id == "acl-custom")
    icmp = tuple(
        NaclEntry(rule_number=200 + 10 * i, egress=True, protocol="1", action="allow",
                  cidr_ipv4="0.0.0.0/0", icmp_type=t, icmp_code=c)
        for i, (t, c) in enumerate(type_codes)
    )  # fmt: skip
    acls = tuple(
        a.model_copy(update={"entries": (*a.entries, *icmp)}) if a is acl else a
        for a in base.network_acls
    )
    return base.model_copy(update={"network_acls": acls})


@pytest.mark.parametrize(
    ("icmp", "icmpv6"),
    [
        ((-1, -1), [(-1, -1)]),  # every type
        ((8, -1), [(128, -1)]),  # echo request
        ((0, 0), [(129, 0)]),  # echo reply
        ((3, 4), [(2, 0)]),  # fragmentation needed: Packet Too Big, for path MTU discovery
        ((3, -1), [(1, -1), (2, 0)]),  # every unreachable code: Packet Too Big too
        ((11, 0), [(3, 0)]),  # time exceeded
    ],
)
def test_icmp_nacl_entries_get_icmpv6_twins_with_their_type_and_code(
    icmp: tuple[int, int], icmpv6: list[tuple[int, int]]
) -> None:
    # RFC 4443; EC2 API reference, CreateNetworkAclEntry: ICMPv6 is protocol 58, and an entry for
    # it with an IPv6 CIDR needs IcmpTypeCode. Protocol 1 would match no IPv6 packet at all.
    twins = [
        c for c in of_type(_with_icmp_entries(icmp), AddNaclIpv6Entry) if c.mirrors_rule == 200
    ]
    assert [(c.protocol, c.icmp_type, c.icmp_code) for c in twins] == [
        ("58", t, c) for t, c in icmpv6
    ]
    assert [c.rule_number for c in twins] == list(range(201, 201 + len(icmpv6)))


def test_icmp_types_without_an_icmpv6_counterpart_get_no_twin_and_a_warning() -> None:
    estate = _with_icmp_entries((5, -1))  # redirect: ICMPv6 redirects are neighbour discovery
    assert not [c for c in of_type(estate, AddNaclIpv6Entry) if c.mirrors_rule == 200]
    assert codes(estate)["nacl-icmp-without-icmpv6"] == "warning"


def test_pristine_default_nacl_is_left_to_aws() -> None:
    assert all(c.target != "acl-default" for c in of_type(inventory(), AddNaclIpv6Entry))


def test_partly_dual_stack_vpc_gets_only_what_is_missing() -> None:
    # Given a VPC with its block, one subnet already holding /64 number 0 with auto-assign on
    done = subnet(0, ipv6_cidr=subnet_cidr(BLOCK, 0), ipv6_state="associated",
                  assign_ipv6_on_creation=True)  # fmt: skip
    estate = with_vpc_block(inventory(subnets=(done, subnet(1), subnet(2))))
    # When planned
    result = plan(estate, DEFAULTS)
    # Then no VPC block is asked for, the done subnet is untouched, the others skip /64 number 0
    assert not of_type(estate, AssociateVpcIpv6Cidr)
    touched = {c.target for c in result.changes if c.target.startswith("subnet-")}
    assert "subnet-0000" not in touched
    cidrs = {c.target: c.cidr for c in of_type(estate, AssociateSubnetIpv6Cidr)}
    assert cidrs == {
        "subnet-0001": subnet_cidr(BLOCK, 1),
        "subnet-0002": subnet_cidr(BLOCK, 2),
    }


# --------------------------------------------------------------------------- attachments


def test_tgw_attachment_ipv6_is_enabled_and_routes_need_named_destinations() -> None:
    assert codes(inventory())["tgw-ipv6-destinations-unknown"] == "warning"
    options = PlanOptions(tgw_ipv6_destinations=("2600:1f18:1000::/40",))
    tgw_routes = [
        c for c in of_type(inventory(), AddIpv6Route, options) if c.via == "transit-gateway"
    ]
    assert [(c.target, c.destination) for c in tgw_routes] == [
        ("rtb-private", "2600:1f18:1000::/40")
    ]


def test_peering_routes_to_the_peer_ipv6_block_from_tables_that_route_to_it() -> None:
    peering = [c for c in of_type(inventory(), AddIpv6Route) if c.via == "peering"]
    assert [(c.target, c.destination, c.stage) for c in peering] == [
        ("rtb-private", "2600:1f18:99:9900::/56", "attachments")
    ]


def test_the_peer_side_routes_back_to_this_vpcs_block_once_it_is_known() -> None:
    # Given a peer table routing to the peering: before the block exists, the route is planned
    # to "this VPC's block"; once it exists, to its CIDR; once routed, not at all
    [unknown] = of_type(inventory(), AddPeerIpv6Route)
    assert (unknown.target, unknown.account_id, unknown.destination) == (
        "rtb-peer", "333333333333", None,
    )  # fmt: skip
    [known] = of_type(with_vpc_block(inventory()), AddPeerIpv6Route)
    assert known.destination == BLOCK
    assert known.change_id == unknown.change_id  # the same change, for the journal


def test_an_unreadable_peer_side_is_a_warning() -> None:
    estate = inventory()
    peer = estate.peerings[0].model_copy(update={"peer_readable": False, "peer_route_tables": ()})
    estate = estate.model_copy(update={"peerings": (peer,)})
    assert codes(estate)["peer-side-unreadable"] == "warning"
    assert of_type(estate, AddPeerIpv6Route) == []


def test_peer_without_ipv6_warns_instead_of_routing() -> None:
    estate = inventory()
    peer = estate.peerings[0].model_copy(update={"peer_ipv6_cidrs": ()})
    estate = estate.model_copy(update={"peerings": (peer,)})
    assert codes(estate)["peer-without-ipv6"] == "warning"
    assert not [c for c in of_type(estate, AddIpv6Route) if c.via == "peering"]


# --------------------------------------------------------------------------- cni and nodes


def test_cni_change_keeps_the_users_configuration() -> None:
    [change] = of_type(inventory(), EnableCniIpv6Egress)
    merged = json.loads(change.configuration)
    assert merged["env"] == {"WARM_IP_TARGET": "5", "ENABLE_V6_EGRESS": "true"}
    assert merged["init"]["env"] == {"ENABLE_V6_EGRESS": "true"}
    assert change.previous_configuration == '{"env": {"WARM_IP_TARGET": "5"}}'


def test_each_nodegroup_gets_the_strategy_its_kind_allows() -> None:
    strategies = {c.target: c.strategy for c in of_type(inventory(), RollNodegroup)}
    assert strategies == {
        "system": "launch-template-version",
        "batch": "replacement-group",
        "legacy": "instance-refresh",
    }


def test_nodegroup_whose_nodes_all_have_ipv6_is_not_rolled() -> None:
    nodes = (Node(instance_id="i-1", subnet_id="subnet-0002", nodegroup="system",
                  ipv6_addresses=("2600::1",)),)  # fmt: skip
    estate = inventory(nodes=nodes)
    assert "system" not in {c.target for c in of_type(estate, RollNodegroup)}


def test_changes_come_in_stage_order() -> None:
    stages = [c.stage for c in plan(inventory(), DEFAULTS).changes]
    order = ["vpc", "attachments", "cni", "nodes"]
    assert stages == sorted(stages, key=order.index)


# --------------------------------------------------------------------------- properties

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(inventories())
def test_planned_64s_are_unique_and_inside_the_vpc_block(estate: Inventory) -> None:
    result = plan(estate, DEFAULTS)
    after = project(estate, result, BLOCK)
    block = ipaddress.ip_network(after.vpc.ipv6_block.cidr)  # type: ignore[union-attr]
    cidrs = [s.ipv6_cidr for s in after.subnets]
    assert None not in cidrs
    assert len(set(cidrs)) == len(cidrs)
    for cidr in cidrs:
        network = ipaddress.ip_network(cidr)
        assert network.prefixlen == 64
        assert network.subnet_of(block)


@PROPERTY
@given(inventories(), st.randoms(use_true_random=False))
def test_plan_is_deterministic_whatever_the_order_of_discovery(
    estate: Inventory, shuffler: random.Random
) -> None:
    shuffled = estate.model_copy(
        update={
            name: tuple(shuffler.sample(list(getattr(estate, name)), len(getattr(estate, name))))
            for name in ("subnets", "route_tables", "security_groups", "network_acls", "nodes")
        }
    )
    assert plan(shuffled, DEFAULTS) == plan(estate, DEFAULTS)


@PROPERTY
@given(inventories(), st.booleans())
def test_planning_the_applied_estate_gives_an_empty_plan(estate: Inventory, mirror: bool) -> None:
    options = PlanOptions(
        mirror_public_ingress=mirror, tgw_ipv6_destinations=("2600:1f18:1000::/40",)
    )
    first = plan(estate, options)
    assert not first.blocked
    second = plan(project(estate, first, BLOCK), options)
    assert second.changes == ()


def _with_edges() -> Inventory:
    return inventory(
        load_balancers=(
            LoadBalancer(arn="arn:lb/app/web/1", name="web", kind="application",
                         scheme="internet-facing", ip_address_type="ipv4"),
            LoadBalancer(arn="arn:lb/net/api/2", name="api", kind="network", scheme="internal",
                         ip_address_type="ipv4"),
        ),
        endpoint_services=(
            EndpointService(service_id="vpce-svc-1", supported_ip_address_types=("ipv4",),
                            network_load_balancer_arns=("arn:lb/net/api/2",)),
        ),
        vpc_endpoints=(
            VpcEndpoint(endpoint_id="vpce-1", service_name="com.amazonaws.eu-west-1.sts",
                        ip_address_type="ipv4"),
        ),
    )  # fmt: skip


def test_load_balancers_and_privatelink_stay_ipv4_unless_asked() -> None:
    estate = _with_edges()
    found = codes(estate)
    assert found["load-balancers-ipv4-only"] == "warning"
    assert found["privatelink-ipv4-only"] == "warning"
    actions = {c.action for c in plan(estate, DEFAULTS).changes}
    assert not actions & {"dualstack-load-balancer", "enable-endpoint-service-ipv6",
                          "dualstack-vpc-endpoint"}  # fmt: skip


def test_privatelink_goes_balancer_then_service_then_endpoint() -> None:
    options = PlanOptions(dualstack_endpoints=True)
    edge = [
        (c.action, c.target) for c in plan(_with_edges(), options).changes
        if c.action in ("dualstack-load-balancer", "enable-endpoint-service-ipv6",
                        "dualstack-vpc-endpoint")
    ]  # fmt: skip
    assert edge == [
        ("dualstack-load-balancer", "arn:lb/net/api/2"),  # only the service's NLB
        ("enable-endpoint-service-ipv6", "vpce-svc-1"),
        ("dualstack-vpc-endpoint", "vpce-1"),
    ]


def test_every_load_balancer_goes_dualstack_when_asked() -> None:
    options = PlanOptions(dualstack_load_balancers=True)
    targets = {c.target for c in plan(_with_edges(), options).changes
               if c.action == "dualstack-load-balancer"}  # fmt: skip
    assert targets == {"arn:lb/app/web/1", "arn:lb/net/api/2"}
    assert "load-balancers-ipv4-only" not in codes(_with_edges(), options)


def _with_karpenter_node() -> Inventory:
    base = inventory()
    stray = Node(instance_id="i-0karpenter", subnet_id="subnet-0002", nodegroup=None)
    return base.model_copy(update={"nodes": (*base.nodes, stray)})


def test_nodes_outside_every_node_group_block_until_the_operator_takes_them_on() -> None:
    # Karpenter does not see IPv6 added to existing subnets as drift (DOMAIN.md, Nodes): the
    # run cannot give such a node IPv6, so it must not start as if it could.
    found = {f.code: f for f in plan(_with_karpenter_node(), DEFAULTS).findings}
    assert found["nodes-outside-node-groups"].severity == "blocker"
    assert "i-0karpenter" in found["nodes-outside-node-groups"].message
    assert "nodes_outside_groups" in found["nodes-outside-node-groups"].message
    for choice in ("validate", "exclude"):
        options = PlanOptions(nodes_outside_groups=choice)
        assert codes(_with_karpenter_node(), options)["nodes-outside-node-groups"] == "warning"


def _private_default_via(target: str) -> Inventory:
    """The private table's 0.0.0.0/0 goes to `target` instead of the NAT gateway; the cluster's
    nodes sit in its subnets."""
    base = inventory()
    tables = tuple(
        t.model_copy(update={"routes": tuple(
            r.model_copy(update={"target": target}) if r.destination == "0.0.0.0/0" else r
            for r in t.routes)})
        if t.route_table_id == "rtb-private" else t
        for t in base.route_tables
    )  # fmt: skip
    node = Node(instance_id="i-0node", subnet_id="subnet-0002", nodegroup="system")
    return base.model_copy(update={"route_tables": tables, "nodes": (node,)})


@pytest.mark.parametrize("target", ["tgw-central", "eni-0firewall", "i-0natinstance", "vpce-0gwlb"])
def test_a_default_route_through_an_appliance_gets_no_ipv6_route_and_blocks_its_nodes(
    target: str,
) -> None:
    estate = _private_default_via(target)
    defaults = [
        c for c in of_type(estate, AddIpv6Route)
        if c.target == "rtb-private" and c.destination == "::/0"
    ]  # fmt: skip
    assert defaults == []
    assert codes(estate)["default-route-via-appliance"] == "warning"
    assert codes(estate)["nodes-without-ipv6-default-route"] == "blocker"
    # Asked, ::/0 goes to the egress-only gateway, and nothing blocks
    options = PlanOptions(appliance_tables_to_egress_only_gateway=True)
    [route] = [
        c for c in of_type(estate, AddIpv6Route, options)
        if c.target == "rtb-private" and c.destination == "::/0"
    ]  # fmt: skip
    assert route.via == "egress-only-gateway"
    assert "nodes-without-ipv6-default-route" not in codes(estate, options)


def test_a_default_ipv6_route_to_a_deleted_gateway_blocks_and_is_not_taken_for_a_way_out() -> None:
    # Given the private table's ::/0 left behind by a deleted egress-only gateway: AWS shows it
    # as a blackhole (Amazon VPC user guide, route tables: a route whose target is gone)
    # (and, which must not block: a live ::/0 in the public table, and blackholed routes to
    # other destinations, sorting before and after "::/0": a peering's, a prefix list's)
    base = inventory()
    added = {
        "rtb-private": (
            Route(destination="::/0", target="eigw-0deleted", state="blackhole"),
            Route(destination="10.9.0.0/16", target="pcx-0deleted", state="blackhole"),
        ),
        "rtb-public": (
            Route(destination="::/0", target="igw-0live"),
            Route(destination="pl-0deleted", target="vpce-0deleted", state="blackhole"),
        ),
    }
    tables = tuple(
        t.model_copy(update={"routes": (*t.routes, *added.get(t.route_table_id, ()))})
        for t in base.route_tables
    )
    assert {t.route_table_id for t in tables} >= set(added)
    estate = base.model_copy(update={"route_tables": tables})
    # When it is planned
    found = plan(estate, DEFAULTS)
    # Then it blocks once, naming the table and the gone gateway: the run would neither route
    # ::/0 (a route is there) nor replace another's route unasked, and the nodes would have no
    # way out
    [blocker] = [f for f in found.findings if f.code == "ipv6-default-route-blackhole"]
    assert blocker.severity == "blocker"
    assert blocker.resource == "rtb-private"
    assert "eigw-0deleted" in blocker.message


def _legacy(**changes: object) -> Inventory:
    base = inventory()
    groups = tuple(
        g.model_copy(update=changes) if g.name == "legacy" else g for g in base.nodegroups
    )
    return base.model_copy(update={"nodegroups": groups})


def test_a_refresh_that_cannot_drain_is_blocked_unless_accepted() -> None:
    # Auto Scaling terminates refreshed instances without draining Kubernetes nodes unless a
    # termination lifecycle hook lets a handler drain them (DOMAIN.md, facts found by review).
    estate = _legacy(termination_hook=False)
    assert codes(estate)["refresh-without-drain"] == "blocker"
    assert codes(estate, PlanOptions(refresh_without_drain=True))["refresh-without-drain"] == (
        "warning"
    )
    assert "refresh-without-drain" not in codes(inventory())


def test_a_managed_group_that_is_updating_blocks() -> None:
    base = inventory()
    groups = tuple(
        g.model_copy(update={"status": "UPDATING"}) if g.name == "system" else g
        for g in base.nodegroups
    )
    assert codes(base.model_copy(update={"nodegroups": groups}))["nodegroup-not-active"] == (
        "blocker"
    )


def test_a_cluster_without_nodes_is_blocked_before_any_change() -> None:
    # Validation needs a node to probe from: an empty estate would fail at the end and roll back.
    result = plan(inventory(nodes=()), DEFAULTS)
    assert result.blocked
    assert "no-nodes" in {f.code for f in result.blockers}


# ------------------------------------------------------------------ blockers, one fact each


def _cluster(**changes: object) -> Inventory:
    estate = inventory()
    return estate.model_copy(update={"cluster": estate.cluster.model_copy(update=changes)})


CLUSTER_CODES = ("cluster-not-active", "cluster-config-map-auth", "cluster-endpoint-private",
                 "cluster-endpoint-cidrs", "kubernetes-unreachable")  # fmt: skip
NARROW = ("203.0.113.0/24",)
REACHED = KubeFacts(reachable=True, v6_egress={"aws-node": None, "aws-vpc-cni-init": None})


@pytest.mark.parametrize(
    ("estate", "expected"),
    [
        (_cluster(), {}),
        (_cluster(status="UPDATING"), {"cluster-not-active": "blocker"}),
        (_cluster(status="CREATING"), {"cluster-not-active": "blocker"}),
        (_cluster(authentication_mode="CONFIG_MAP"), {"cluster-config-map-auth": "blocker"}),
        (_cluster(authentication_mode="API"), {}),
        (_cluster(endpoint_public_access=False), {"cluster-endpoint-private": "blocker"}),
        (_cluster(public_access_cidrs=("203.0.113.0/24",)), {"cluster-endpoint-cidrs": "warning"}),
        # the apply run proved its access with one read: no warning needed
        (_cluster(public_access_cidrs=NARROW).model_copy(update={"kubernetes": REACHED}), {}),
        (inventory(kubernetes=KubeFacts(reachable=False, error="timed out")),
         {"kubernetes-unreachable": "blocker"}),
        (inventory(kubernetes=REACHED), {}),
    ],
)  # fmt: skip
def test_each_cluster_blocker_comes_from_its_own_fact(
    estate: Inventory, expected: dict[str, str]
) -> None:
    found = {c: s for c, s in codes(estate).items() if c in CLUSTER_CODES}
    assert found == expected


def _flagged(aws_node: str | None, init: str | None = None, managed: bool = True) -> Inventory:
    facts = KubeFacts(reachable=True, v6_egress={"aws-node": aws_node, "aws-vpc-cni-init": init})
    return inventory(kubernetes=facts, cni=inventory().cni.model_copy(update={"managed": managed}))


@pytest.mark.parametrize(
    ("estate", "resolve", "expected"),
    [
        (_flagged("true"), "PRESERVE", "blocker"),
        (_flagged(None, init="false"), "PRESERVE", "blocker"),
        (_flagged("true"), "OVERWRITE", "warning"),
        (_flagged("true"), "NONE", "warning"),
        (_flagged(None), "PRESERVE", None),  # not set outside the add-on
        (_flagged("true", managed=False), "PRESERVE", None),  # self-managed: the stage patches it
        (inventory(kubernetes=KubeFacts(reachable=False, v6_egress={"aws-node": "true"})),
         "PRESERVE", None),  # unread: kubernetes-unreachable says so
    ],
)  # fmt: skip
def test_a_flag_set_outside_the_add_on_blocks_only_where_preserve_would_keep_it(
    estate: Inventory, resolve: str, expected: str | None
) -> None:
    options = PlanOptions(resolve_conflicts=resolve)  # type: ignore[arg-type]
    assert codes(estate, options).get("cni-flag-set-out-of-band") == expected


def test_a_flag_the_add_on_itself_sets_is_not_out_of_band() -> None:
    configured = inventory().cni.model_copy(update={
        "configuration_values": '{"env": {"ENABLE_V6_EGRESS": "true"}, '
                                '"init": {"env": {"ENABLE_V6_EGRESS": "true"}}}'})  # fmt: skip
    facts = KubeFacts(reachable=True, v6_egress={"aws-node": "true", "aws-vpc-cni-init": "true"})
    assert "cni-flag-set-out-of-band" not in codes(inventory(cni=configured, kubernetes=facts))


@pytest.mark.parametrize(
    ("option", "expected", "says"),
    [("block", "blocker", "Replace them yourself"), ("validate", "warning", "Validation checks"),
     ("exclude", "warning", "Validation leaves them out")],
)  # fmt: skip
def test_nodes_outside_node_groups_without_ipv6_are_found_as_the_request_says(
    option: str, expected: str, says: str
) -> None:
    bare = Node(instance_id="i-9", subnet_id="subnet-0003", nodegroup=None)
    done = Node(instance_id="i-8", subnet_id="subnet-0003", nodegroup=None,
                ipv6_addresses=("2600::8",))  # fmt: skip
    options = PlanOptions(nodes_outside_groups=option)  # type: ignore[arg-type]
    estate = inventory()
    with_bare = estate.model_copy(update={"nodes": (*estate.nodes, bare, done)})
    assert codes(with_bare, options).get("nodes-outside-node-groups") == expected
    [finding] = [f for f in plan(with_bare, options).findings
                 if f.code == "nodes-outside-node-groups"]  # fmt: skip
    assert "i-9" in finding.message
    assert "i-8" not in finding.message
    assert says in finding.message
    # a node outside every group that has IPv6 already needs nothing
    with_done = estate.model_copy(update={"nodes": (*estate.nodes, done)})
    assert "nodes-outside-node-groups" not in codes(with_done, options)


def test_findings_list_blockers_first_then_by_code_and_resource() -> None:
    estate = _cluster(status="UPDATING", public_access_cidrs=("203.0.113.0/24",),
                      authentication_mode="CONFIG_MAP")  # fmt: skip
    findings = plan(estate, DEFAULTS).findings
    keys = [(f.severity != "blocker", f.code, f.resource or "") for f in findings]
    assert keys == sorted(keys)
    assert findings[0].severity == "blocker"
    assert findings[-1].severity == "warning"


# ------------------------------------------------------- blockers, found by mutation testing


@pytest.mark.parametrize(
    ("image", "expected"),
    [("602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.16.2-eksbuild.1",
      "cni-below-1.16.3"),
     ("602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:v1.16.3-eksbuild.1", None)],
)  # fmt: skip
def test_a_self_managed_cnis_version_is_read_from_its_daemonsets_image(
    image: str, expected: str | None
) -> None:
    # Given no vpc-cni add-on (its version unknown to EKS) and aws-node read from the cluster
    facts = KubeFacts(reachable=True, aws_node_image=image,
                      v6_egress={"aws-node": None, "aws-vpc-cni-init": None})  # fmt: skip
    estate = inventory(cni=Cni(managed=False, version=None), kubernetes=facts)
    # When planned, Then the version comes from the image's tag and is judged like the add-on's
    found = codes(estate)
    assert "cni-version-unknown" not in found
    assert {c for c in found if c.startswith("cni-")} == ({expected} if expected else set())


def test_a_flag_set_on_the_init_container_alone_is_out_of_band_though_the_add_on_sets_aws_node(
) -> None:  # fmt: skip
    # Given the add-on's configuration sets the flag for aws-node only, and the DaemonSet's
    # init container has it too (set by hand: the add-on sets `init.env` separately)
    configured = inventory().cni.model_copy(
        update={"configuration_values": '{"env": {"ENABLE_V6_EGRESS": "true"}}'}
    )
    facts = KubeFacts(reachable=True, v6_egress={"aws-node": "true", "aws-vpc-cni-init": "true"})
    # When planned with PRESERVE, Then the init container's value is out of band, and named
    [finding] = [f for f in plan(inventory(cni=configured, kubernetes=facts), DEFAULTS).findings
                 if f.code == "cni-flag-set-out-of-band"]  # fmt: skip
    assert finding.severity == "blocker"
    assert "aws-vpc-cni-init=true" in finding.message
    assert "aws-node=true" not in finding.message


@pytest.mark.parametrize(
    ("node_subnet", "group_subnets", "carrying"),
    [
        # the nodes' subnet is also the group's (the usual case)
        ("subnet-0002", ("subnet-0002",), True),
        # a group may launch into the appliance's subnets though no node runs there yet
        ("subnet-0000", ("subnet-0000", "subnet-0003"), True),
        # a node there, though its group names other subnets
        ("subnet-0003", ("subnet-0000",), True),
        # nodes and groups only behind the internet gateway
        ("subnet-0000", ("subnet-0001",), False),
    ],
)
def test_an_appliance_table_blocks_only_if_it_serves_a_subnet_with_nodes_or_their_groups(
    node_subnet: str, group_subnets: tuple[str, ...], carrying: bool
) -> None:
    # Given the private table (subnets 0002, 0003) routes 0.0.0.0/0 through a firewall
    estate = _private_default_via("eni-0firewall")
    node = Node(instance_id="i-0node", subnet_id=node_subnet, nodegroup="system")
    groups = tuple(g.model_copy(update={"subnet_ids": group_subnets}) for g in estate.nodegroups)
    estate = estate.model_copy(update={"nodes": (node,), "nodegroups": groups})
    # When planned, Then its nodes lose IPv6 egress exactly when the table serves their subnets
    found = codes(estate)
    assert found["default-route-via-appliance"] == "warning"
    assert ("nodes-without-ipv6-default-route" in found) is carrying


def test_findings_of_one_code_are_listed_by_resource() -> None:
    # Given two managed groups without a launch template, discovered in reverse order
    batch = next(g for g in inventory().nodegroups if g.name == "batch")
    another = batch.model_copy(update={"name": "analytics"})
    node = Node(instance_id="i-0analytics", subnet_id="subnet-0003", nodegroup="analytics")
    estate = inventory(nodegroups=(batch, another), nodes=(*inventory().nodes, node))
    # When planned, Then their two warnings come by group name, whatever the discovery order
    for groups in (estate.nodegroups, tuple(reversed(estate.nodegroups))):
        found = plan(estate.model_copy(update={"nodegroups": groups}), DEFAULTS).findings
        named = [f.resource for f in found if f.code == "nodegroup-without-launch-template"]
        assert named == ["analytics", "batch"]


@pytest.mark.parametrize(
    "estate",
    [inventory(), _cluster(status="UPDATING"), _cluster(authentication_mode="CONFIG_MAP"),
     _flagged("true"), _with_karpenter_node(), _private_default_via("tgw-central")],
)  # fmt: skip
def test_an_inventory_that_arrives_as_json_is_planned_as_the_one_discovered(
    estate: Inventory,
) -> None:
    # The planner's input reaches it parsed from AWS's answers or from JSON (the state
    # machine's payload), never as the literals of this file: equal strings, not the same ones.
    for options in (DEFAULTS, PlanOptions(resolve_conflicts="OVERWRITE",
                                          nodes_outside_groups="validate")):  # fmt: skip
        parsed = Inventory.model_validate(json.loads(estate.model_dump_json()))
        chosen = PlanOptions.model_validate(json.loads(options.model_dump_json()))
        assert plan(parsed, chosen) == plan(estate, options)
