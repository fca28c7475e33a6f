"""The planner: `plan(inventory, options) -> Plan`. Pure: no I/O, no clock, no randomness.

The plan lists only what is missing, so planning the estate a plan produces gives an empty plan;
that is what makes every stage re-runnable. Changes come in the order DOMAIN.md requires
(VPC block, subnet blocks, auto-assign, gateway, routes, rules; then the interconnects; then the
CNI; then the nodes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from v6migrate import cidr, cni
from v6migrate.models import (
    AddIpv6Route,
    AddNaclIpv6Entry,
    AddPeerIpv6Route,
    AddSecurityGroupIpv6Rule,
    AssociateSubnetIpv6Cidr,
    AssociateVpcIpv6Cidr,
    Change,
    CreateEgressOnlyGateway,
    DualstackLoadBalancer,
    DualstackVpcEndpoint,
    EnableCloudWanAttachmentIpv6,
    EnableCniIpv6Egress,
    EnableEndpointServiceIpv6,
    EnableSubnetIpv6AutoAssign,
    EnableTgwAttachmentIpv6,
    Finding,
    Inventory,
    NaclEntry,
    NetworkAcl,
    Peering,
    Plan,
    PlanOptions,
    RollNodegroup,
    RouteTable,
    SecurityGroup,
    SgRule,
)

ANY_IPV4 = "0.0.0.0/0"
ANY_IPV6 = "::/0"
NAT64_PREFIX = "64:ff9b::/96"
NACL_MAX_RULE = 32766
_LISTED = 5  # resource ids named in an aggregated finding


def _blocker(code: str, message: str, resource: str | None = None) -> Finding:
    return Finding(code=code, severity="blocker", message=message, resource=resource)


def _warning(code: str, message: str, resource: str | None = None) -> Finding:
    return Finding(code=code, severity="warning", message=message, resource=resource)


def _listed(ids: Iterable[str]) -> str:
    ids = sorted(ids)
    shown = ", ".join(ids[:_LISTED])
    return shown + (f" and {len(ids) - _LISTED} more" if len(ids) > _LISTED else "")


# --------------------------------------------------------------------------- preflight


def _cluster_findings(inventory: Inventory) -> list[Finding]:
    cluster = inventory.cluster
    findings: list[Finding] = []
    if cluster.ip_family == "ipv6":
        findings.append(
            _blocker(
                "cluster-already-ipv6",
                f"Cluster {cluster.name} was created with the IPv6 family: it is already "
                "IPv6 and there is nothing to migrate.",
                cluster.name,
            )
        )
    if cluster.authentication_mode == "CONFIG_MAP":
        findings.append(
            _blocker(
                "cluster-config-map-auth",
                f"Cluster {cluster.name} authenticates through the aws-auth ConfigMap only "
                "(authentication mode CONFIG_MAP), so the run's access entry for its checks "
                "inside the cluster would be refused. Switch it to API_AND_CONFIG_MAP (aws eks "
                f"update-cluster-config --name {cluster.name} --access-config "
                "authenticationMode=API_AND_CONFIG_MAP; aws-auth keeps working, and the change "
                "cannot be undone), then plan again.",
                cluster.name,
            )
        )
    if not cluster.endpoint_public_access:
        findings.append(
            _blocker(
                "cluster-endpoint-private",
                f"Cluster {cluster.name} has a private API endpoint only: the run's functions "
                "run outside the VPC and cannot reach it to set and check the VPC CNI. Enable "
                "public access limited to the functions' egress addresses "
                "(endpointPublicAccess with publicAccessCidrs), then plan again.",
                cluster.name,
            )
        )
    elif ANY_IPV4 not in cluster.public_access_cidrs and inventory.kubernetes is None:
        findings.append(
            _warning(
                "cluster-endpoint-cidrs",
                f"Cluster {cluster.name} admits its public API endpoint only from "
                f"{', '.join(cluster.public_access_cidrs)}: they must include the functions' "
                "egress addresses. The apply run proves access before its first change.",
                cluster.name,
            )
        )
    facts = inventory.kubernetes
    if facts is not None and not facts.reachable:
        findings.append(
            _blocker(
                "kubernetes-unreachable",
                f"The Kubernetes API of cluster {cluster.name} did not answer the run "
                f"({facts.error}): the CNI stage and validation need it. Let the functions "
                "reach the endpoint (publicAccessCidrs must include their egress addresses), "
                "then plan again.",
                cluster.name,
            )
        )
    if cluster.status != "ACTIVE":
        findings.append(
            _blocker(
                "cluster-not-active",
                f"Cluster {cluster.name} is {cluster.status}; wait until it is ACTIVE, then plan "
                "again.",
                cluster.name,
            )
        )
    return findings


def _cni_findings(inventory: Inventory, options: PlanOptions) -> list[Finding]:
    facts = inventory.kubernetes
    version = inventory.cni.version or (facts.aws_node_version if facts else None)
    findings: list[Finding] = _out_of_band_flag(inventory, options)
    if version is None:
        return [
            *findings,
            _warning(
                "cni-version-unknown",
                "The VPC CNI is self-managed (no EKS add-on) and its aws-node DaemonSet was not "
                "read (a dry run without Kubernetes access): make sure aws-node runs v1.16.3 or "
                "later. The apply run reads it and blocks an older one.",
            ),
        ]
    found = cni.parse_version(version)
    every_node_has_ipv6 = bool(inventory.nodes) and all(n.ipv6_addresses for n in inventory.nodes)
    if found < cni.V6_EGRESS_MIN:
        findings.append(
            _blocker(
                "cni-too-old",
                f"VPC CNI {version} has no ENABLE_V6_EGRESS (added in v1.13.0). Upgrade the "
                f"{_cni_name(inventory)} to v1.16.3 or later, then plan again.",
                "vpc-cni",
            )
        )
    elif found < cni.V6_EGRESS_SAFE_WITHOUT_NODE_IPV6 and not every_node_has_ipv6:
        findings.append(
            _blocker(
                "cni-below-1.16.3",
                f"VPC CNI {version} makes aws-node exit on any node without IPv6 once "
                f"ENABLE_V6_EGRESS is on (fixed in v1.16.3): a cluster-wide outage. Upgrade "
                f"the {_cni_name(inventory)} to v1.16.3 or later, then plan again.",
                "vpc-cni",
            )
        )
    configuration = cni.parse_configuration(inventory.cni.configuration_values)
    if cni.env_value(configuration, "DISABLE_POD_V6") == "true":
        findings.append(
            _blocker(
                "cni-pod-v6-disabled",
                "The vpc-cni configuration sets DISABLE_POD_V6=true, which stops pods from "
                "getting their IPv6 egress interface. Remove it from the add-on's "
                "configurationValues, then plan again.",
                "vpc-cni",
            )
        )
    return findings


def _cni_name(inventory: Inventory) -> str:
    return "vpc-cni add-on" if inventory.cni.managed else "self-managed aws-node DaemonSet"


def _out_of_band_flag(inventory: Inventory, options: PlanOptions) -> list[Finding]:
    """ENABLE_V6_EGRESS set on the aws-node DaemonSet outside the add-on's configuration: an
    update with resolveConflicts PRESERVE keeps that value (EKS user guide, add-on field
    management), so the CNI stage would "succeed" and leave it as it is."""
    facts = inventory.kubernetes
    if facts is None or not facts.reachable or not inventory.cni.managed:
        return []
    configured = cni.parse_configuration(inventory.cni.configuration_values)
    wanted = {"aws-node": cni.env_value(configured, cni.FLAG),
              "aws-vpc-cni-init": cni.env_value(configured, cni.FLAG, init=True)}  # fmt: skip
    odd = sorted(
        f"{container}={value}"
        for container, value in facts.v6_egress.items()
        if value is not None and value != wanted.get(container)
    )
    if not odd:
        return []
    message = (
        f"ENABLE_V6_EGRESS is set on the aws-node DaemonSet outside the vpc-cni add-on's "
        f"configuration ({', '.join(odd)})"
    )
    if options.resolve_conflicts == "PRESERVE":
        return [
            _blocker(
                "cni-flag-set-out-of-band",
                message  # noqa: S608 (a message, no SQL)
                + ": the add-on update with resolveConflicts PRESERVE would keep it. "
                "Remove the variable from the DaemonSet (kubectl -n kube-system set env "
                "daemonset/aws-node -c aws-node ENABLE_V6_EGRESS-, and the same for "
                "aws-vpc-cni-init), or set options.resolve_conflicts to OVERWRITE, which also "
                "resets every other field changed outside EKS; then plan again.",
                "vpc-cni",
            )
        ]
    return [
        _warning(
            "cni-flag-set-out-of-band",
            f"{message}: the add-on update with OVERWRITE replaces it, and every other field "
            "changed outside EKS.",
            "vpc-cni",
        )
    ]


# --------------------------------------------------------------------------- vpc stage


def _vpc_changes(inventory: Inventory, options: PlanOptions) -> tuple[list[Change], list[Finding]]:
    changes: list[Change] = []
    findings: list[Finding] = []
    vpc = inventory.vpc
    block = vpc.ipv6_block
    source = options.ipv6_source
    if block is None:
        changes.append(
            AssociateVpcIpv6Cidr(
                target=vpc.vpc_id,
                ipam_pool_id=source.ipam_pool_id,
                netmask_length=source.prefix_length,
            )
        )
        prefix_length = source.prefix_length
        block_cidr = None
    else:
        block_cidr = block.cidr
        prefix_length = int(block_cidr.split("/")[1]) if block_cidr else source.prefix_length

    taken = [
        index
        for s in inventory.subnets
        if s.ipv6_cidr and block_cidr
        for index in [cidr.subnet_index(block_cidr, s.ipv6_cidr)]
        if index is not None
    ]
    pending = [(s.subnet_id, s.cidr_block) for s in inventory.subnets if not s.ipv6_cidr]
    try:
        chosen = cidr.carve(prefix_length, pending, taken)
    except cidr.CarvingError as error:
        findings.append(
            _blocker(
                "not-enough-ipv6-subnets",
                f"{error}. Ask for a larger IPv6 block (an IPAM pool with a shorter netmask) or "
                "split the VPC.",
                vpc.vpc_id,
            )
        )
        chosen = {}
    for subnet_id, index in chosen.items():
        changes.append(
            AssociateSubnetIpv6Cidr(
                target=subnet_id,
                index=index,
                cidr=cidr.subnet_cidr(block_cidr, index) if block_cidr else None,
            )
        )
    for subnet in sorted(inventory.subnets, key=lambda s: s.subnet_id):
        if not subnet.assign_ipv6_on_creation:
            changes.append(EnableSubnetIpv6AutoAssign(target=subnet.subnet_id))

    routes, route_findings = _default_routes(inventory, options)
    changes.extend(routes)
    findings.extend(route_findings)
    sg_changes, sg_findings = _security_group_changes(inventory.security_groups, options)
    changes.extend(sg_changes)
    findings.extend(sg_findings)
    nacl_changes, nacl_findings = _nacl_changes(inventory.network_acls)
    changes.extend(nacl_changes)
    findings.extend(nacl_findings)
    findings.extend(_dns64_findings(inventory))
    return changes, findings


def _default_target(table: RouteTable) -> str | None:
    for route in table.routes:
        if route.destination == ANY_IPV4:
            return route.target
    return None


# Default-route targets that are not a gateway AWS gives IPv6 to: a Transit Gateway or a Cloud
# WAN core network (central egress), an interface or instance (a NAT instance, a firewall), a
# Gateway Load Balancer endpoint (inspection). What IPv6 does there is the operator's decision.
_APPLIANCES = ("tgw-", "eni-", "i-", "vpce-", "arn:")


def _served_subnets(inventory: Inventory, table: RouteTable) -> set[str]:
    """The subnets a table routes: its own, or for the main table every unassociated one."""
    if not table.main:
        return set(table.subnet_ids)
    associated = {s for t in inventory.route_tables for s in t.subnet_ids}
    return {s.subnet_id for s in inventory.subnets if s.subnet_id not in associated}


def _appliance_findings(inventory: Inventory, tables: list[RouteTable]) -> list[Finding]:
    if not tables:
        return []
    listed = _listed(f"{t.route_table_id} (via {_default_target(t)})" for t in tables)
    node_subnets = {n.subnet_id for n in inventory.nodes} | {
        s for g in inventory.nodegroups for s in g.subnet_ids
    }
    carrying_nodes = sorted(
        t.route_table_id for t in tables if _served_subnets(inventory, t) & node_subnets
    )
    findings = [
        _warning(
            "default-route-via-appliance",
            f"{len(tables)} route tables send 0.0.0.0/0 through a Transit Gateway, an instance "
            f"or interface, or a Gateway Load Balancer endpoint ({listed}): the plan gives them "
            "no ::/0. Route IPv6 the same way if that path carries it, or set "
            "options.appliance_tables_to_egress_only_gateway to send ::/0 to an egress-only "
            "gateway (IPv6 then bypasses that path).",
        )
    ]
    if carrying_nodes:
        findings.append(
            _blocker(
                "nodes-without-ipv6-default-route",
                f"Nodes of the cluster sit in subnets of {_listed(carrying_nodes)}, whose "
                "0.0.0.0/0 goes through an appliance or a Transit Gateway: without a ::/0 their "
                "pods' IPv6 egress has no way out and validation would fail. Add a ::/0 route "
                "there yourself, or set options.appliance_tables_to_egress_only_gateway; then "
                "plan again.",
            )
        )
    return findings


def _default_routes(
    inventory: Inventory, options: PlanOptions
) -> tuple[list[Change], list[Finding]]:
    """Public tables: ::/0 to the internet gateway; private ones: to an egress-only gateway."""
    changes: list[Change] = []
    private: list[RouteTable] = []
    appliances: list[RouteTable] = []
    for table in sorted(inventory.route_tables, key=lambda t: t.route_table_id):
        target = _default_target(table)
        if target is None or table.has_route(ANY_IPV6):
            continue
        if target.startswith("tgw-") and ANY_IPV6 in options.tgw_ipv6_destinations:
            continue  # the attachments stage routes ::/0 through the Transit Gateway
        if target.startswith(_APPLIANCES):
            if options.appliance_tables_to_egress_only_gateway:
                private.append(table)
            else:
                appliances.append(table)
        elif target.startswith("igw-"):
            changes.append(
                AddIpv6Route(
                    stage="vpc",
                    target=table.route_table_id,
                    destination=ANY_IPV6,
                    via="internet-gateway",
                    gateway_id=target,
                )
            )
        elif target.startswith("nat-"):
            private.append(table)
    if private and inventory.egress_only_gateway_id is None:
        changes.append(CreateEgressOnlyGateway(target=inventory.vpc.vpc_id))
    for table in private:
        changes.append(
            AddIpv6Route(
                stage="vpc",
                target=table.route_table_id,
                destination=ANY_IPV6,
                via="egress-only-gateway",
                gateway_id=inventory.egress_only_gateway_id,
            )
        )
    return changes, [*_appliance_findings(inventory, appliances), *_blackholes(inventory)]


def _blackholes(inventory: Inventory) -> list[Finding]:
    """A ::/0 to a gateway that is gone drops the IPv6 traffic of the subnets behind it; the
    planner would take it for a way out (a route is there) and may not replace another's
    route unasked: it blocks, naming it (Amazon VPC user guide, route tables: blackhole)."""
    found: list[Finding] = []
    for table in sorted(inventory.route_tables, key=lambda t: t.route_table_id):
        for route in table.routes:
            if route.state != "blackhole":
                continue
            if route.destination == ANY_IPV6:
                found.append(
                    _blocker(
                        "ipv6-default-route-blackhole",
                        f"route table {table.route_table_id} sends ::/0 to {route.target}, "
                        "which no longer exists (AWS shows the route as a blackhole): the IPv6 "
                        "traffic of its subnets would be dropped. Delete the route (or replace "
                        "it with a live gateway) and plan again.",
                        table.route_table_id,
                    )
                )
    return found


def _has_ipv6_twin(group: SecurityGroup, rule: SgRule) -> bool:
    return any(
        other.cidr_ipv6 == ANY_IPV6
        and other.egress == rule.egress
        and other.protocol == rule.protocol
        and other.from_port == rule.from_port
        and other.to_port == rule.to_port
        for other in group.rules
    )


def _security_group_changes(
    groups: Iterable[SecurityGroup], options: PlanOptions
) -> tuple[list[Change], list[Finding]]:
    changes: list[Change] = []
    egress_only_v4: list[str] = []
    public_ingress_v4: list[str] = []
    for group in sorted(groups, key=lambda g: g.group_id):
        for rule in group.rules:
            if rule.cidr_ipv4 != ANY_IPV4 or _has_ipv6_twin(group, rule):
                continue
            if not rule.egress and not options.mirror_public_ingress:
                public_ingress_v4.append(group.group_id)
                continue
            if rule.egress:
                egress_only_v4.append(group.group_id)
            changes.append(
                AddSecurityGroupIpv6Rule(
                    target=group.group_id,
                    egress=rule.egress,
                    protocol=rule.protocol,
                    from_port=rule.from_port,
                    to_port=rule.to_port,
                )
            )
    findings: list[Finding] = []
    if egress_only_v4:
        unique = sorted(set(egress_only_v4))
        findings.append(
            _warning(
                "sg-egress-ipv4-only",
                f"{len(unique)} security groups allow 0.0.0.0/0 egress but not ::/0 "
                f"({_listed(unique)}): the plan adds a ::/0 egress twin to each, the EKS cluster "
                "and node security groups included.",
            )
        )
    if public_ingress_v4:
        unique = sorted(set(public_ingress_v4))
        findings.append(
            _warning(
                "sg-public-ingress-ipv4-only",
                f"{len(unique)} security groups allow ingress from 0.0.0.0/0 "
                f"({_listed(unique)}); they stay IPv4-only. Set "
                "options.mirror_public_ingress to open them to ::/0 as well.",
            )
        )
    return changes, findings


def _is_pristine_default(acl: NetworkAcl) -> bool:
    """A default NACL never modified: AWS adds its IPv6 rules itself (DOMAIN.md, EC2 step 5)."""
    if not acl.is_default:
        return False
    numbers = sorted((e.egress, e.rule_number) for e in acl.entries if e.cidr_ipv4)
    return numbers == [(False, 100), (False, 32767), (True, 100), (True, 32767)]


ICMP = ("1", "icmp")
ICMPV6 = "58"
# ICMP destination-unreachable codes and their ICMPv6 counterparts (RFC 4443, section 3.1).
_UNREACHABLE_V6 = {0: 0, 1: 3, 3: 4, 9: 1, 10: 1, 13: 1}


def icmpv6_twins(icmp_type: int | None, icmp_code: int | None) -> tuple[tuple[int, int], ...]:
    """The ICMPv6 (type, code) pairs that allow for IPv6 what an ICMP entry allows for IPv4
    (RFC 4443). ICMP "fragmentation needed" is ICMPv6 Packet Too Big (type 2), which path MTU
    discovery needs: an entry for every unreachable code gets it too. () when IPv6 has no
    counterpart (redirect, timestamp, ...)."""
    code = -1 if icmp_code is None else icmp_code
    match icmp_type:
        case None | -1:
            return ((-1, -1),)
        case 0:
            return ((129, code),)  # echo reply
        case 8:
            return ((128, code),)  # echo request
        case 3 if code == -1:
            return ((1, -1), (2, 0))
        case 3 if code == 4:
            return ((2, 0),)
        case 3 if code in _UNREACHABLE_V6:
            return ((1, _UNREACHABLE_V6[code]),)
        case 11:
            return ((3, code if code in (-1, 0, 1) else -1),)  # time exceeded
        case 12:
            return ((4, -1),)  # parameter problem
    return ()


def _nacl_twins(entry: NaclEntry) -> list[dict[str, object]]:
    """What each IPv6 twin of an IPv4 entry carries: protocol, ports, ICMPv6 type and code."""
    if entry.protocol not in ICMP:
        return [{"protocol": entry.protocol, "port_from": entry.port_from,
                 "port_to": entry.port_to}]  # fmt: skip
    return [
        {"protocol": ICMPV6, "icmp_type": icmp_type, "icmp_code": icmp_code}
        for icmp_type, icmp_code in icmpv6_twins(entry.icmp_type, entry.icmp_code)
    ]


def _nacl_changes(acls: Iterable[NetworkAcl]) -> tuple[list[Change], list[Finding]]:
    changes: list[Change] = []
    custom: list[str] = []
    no_icmpv6: list[str] = []
    for acl in sorted(acls, key=lambda a: a.network_acl_id):
        if _is_pristine_default(acl):
            continue
        used = {(e.egress, e.rule_number) for e in acl.entries}
        for entry in sorted(acl.entries, key=lambda e: (e.egress, e.rule_number)):
            if entry.cidr_ipv4 != ANY_IPV4 or entry.rule_number > NACL_MAX_RULE:
                continue
            twins = _nacl_twins(entry)
            if not twins:
                no_icmpv6.append(f"{acl.network_acl_id} rule {entry.rule_number}")
            number = entry.rule_number
            for twin in twins:
                if _nacl_twin_exists(acl, entry, twin):
                    continue
                number += 1
                while (entry.egress, number) in used:
                    number += 1
                used.add((entry.egress, number))
                custom.append(acl.network_acl_id)
                changes.append(
                    AddNaclIpv6Entry(
                        target=acl.network_acl_id,
                        rule_number=number,
                        egress=entry.egress,
                        rule_action=entry.action,
                        mirrors_rule=entry.rule_number,
                        **twin,  # type: ignore[arg-type]
                    )
                )
    findings = []
    if no_icmpv6:
        findings.append(
            _warning(
                "nacl-icmp-without-icmpv6",
                f"{len(no_icmpv6)} network ACL ICMP entries ({_listed(no_icmpv6)}) allow or deny "
                "an ICMP type that ICMPv6 has no counterpart for: they get no IPv6 twin. Review "
                "them; ICMPv6 Packet Too Big (type 2) must stay allowed for path MTU discovery.",
            )
        )
    if custom:
        unique = sorted(set(custom))
        findings.append(
            _warning(
                "custom-nacl",
                f"{len(unique)} custom network ACLs ({_listed(unique)}) get no IPv6 rules from "
                "AWS: the plan mirrors each 0.0.0.0/0 entry as a ::/0 entry numbered right "
                "after it. Review them with the plan.",
            )
        )
    return changes, findings


def _nacl_twin_exists(acl: NetworkAcl, entry: NaclEntry, twin: dict[str, object]) -> bool:
    return any(
        other.cidr_ipv6 == ANY_IPV6
        and other.egress == entry.egress
        and other.action == entry.action
        and other.protocol == twin["protocol"]
        and other.port_from == twin.get("port_from")
        and other.port_to == twin.get("port_to")
        and other.icmp_type == twin.get("icmp_type")
        and other.icmp_code == twin.get("icmp_code")
        for other in acl.entries
    )


def _dns64_findings(inventory: Inventory) -> list[Finding]:
    nat64_tables = set(inventory.nat64_route_tables)
    table_of: dict[str, str] = {}
    main = next((t.route_table_id for t in inventory.route_tables if t.main), None)
    for table in inventory.route_tables:
        for subnet_id in table.subnet_ids:
            table_of[subnet_id] = table.route_table_id
    broken = [
        s.subnet_id
        for s in inventory.subnets
        if s.dns64 and table_of.get(s.subnet_id, main) not in nat64_tables
    ]
    if not broken:
        return []
    return [
        _warning(
            "dns64-without-nat64",
            f"DNS64 is on in {len(broken)} subnets ({_listed(broken)}) whose route table has "
            f"no {NAT64_PREFIX} route to a NAT gateway: IPv6-only clients there would resolve "
            "names they cannot reach. Add the NAT64 route or turn DNS64 off.",
        )
    ]


# --------------------------------------------------------------------------- attachments


def _routes_through(
    tables: Iterable[RouteTable],
    destinations: Iterable[str],
    via: Literal["transit-gateway", "peering"],
    gateway_id: str,
) -> list[Change]:
    """IPv6 routes to `destinations` through `gateway_id`, in each table that lacks them."""
    return [
        AddIpv6Route(
            stage="attachments",
            target=table.route_table_id,
            destination=destination,
            via=via,
            gateway_id=gateway_id,
        )
        for table in tables
        for destination in destinations
        if not table.has_route(destination)
    ]


def _attachment_changes(
    inventory: Inventory, options: PlanOptions
) -> tuple[list[Change], list[Finding]]:
    changes: list[Change] = []
    findings: list[Finding] = []
    tables = sorted(inventory.route_tables, key=lambda t: t.route_table_id)
    for attachment in sorted(inventory.tgw_attachments, key=lambda a: a.attachment_id):
        if not attachment.ipv6_support:
            changes.append(EnableTgwAttachmentIpv6(target=attachment.attachment_id))
        routed = [t for t in tables if attachment.transit_gateway_id in t.targets_prefix("tgw-")]
        if routed and not options.tgw_ipv6_destinations:
            findings.append(
                _warning(
                    "tgw-ipv6-destinations-unknown",
                    f"{len(routed)} route tables send IPv4 to {attachment.transit_gateway_id}, "
                    "but the request names no IPv6 ranges behind it: no IPv6 routes to the "
                    "Transit Gateway are planned. Set options.tgw_ipv6_destinations.",
                    attachment.attachment_id,
                )
            )
        changes.extend(
            _routes_through(
                routed, options.tgw_ipv6_destinations, "transit-gateway",
                attachment.transit_gateway_id,
            )
        )  # fmt: skip
    for peering in sorted(inventory.peerings, key=lambda p: p.peering_id):
        if peering.status != "active":
            continue
        routed = [t for t in tables if peering.peering_id in t.targets_prefix("pcx-")]
        if routed and not peering.peer_ipv6_cidrs:
            findings.append(
                _warning(
                    "peer-without-ipv6",
                    f"Peer VPC {peering.peer_vpc_id} (account {peering.peer_owner_id}) of "
                    f"{peering.peering_id} has no IPv6 block: traffic to it stays IPv4. Make it "
                    "dual-stack first to route IPv6 over the peering.",
                    peering.peering_id,
                )
            )
        changes.extend(
            _routes_through(routed, peering.peer_ipv6_cidrs, "peering", peering.peering_id)
        )
        if peering.peer_ipv6_cidrs:
            changes.extend(_peer_side_routes(inventory, peering))
        if not peering.peer_readable:
            findings.append(
                _warning(
                    "peer-side-unreadable",
                    f"The route tables of peer VPC {peering.peer_vpc_id} (account "
                    f"{peering.peer_owner_id}) could not be read: deploy the target role there "
                    "to route IPv6 back over the peering, or add those routes by hand.",
                    peering.peering_id,
                )
            )
    for wan in sorted(inventory.cloudwan_attachments, key=lambda a: a.attachment_id):
        if not wan.ipv6_support:
            changes.append(EnableCloudWanAttachmentIpv6(target=wan.attachment_id))
    edge_changes, edge_findings = _endpoint_and_balancer_changes(inventory, options)
    return [*changes, *edge_changes], [*findings, *edge_findings]


def _endpoint_and_balancer_changes(
    inventory: Inventory, options: PlanOptions
) -> tuple[list[Change], list[Finding]]:
    """PrivateLink and load balancers, only when the request opts in (DOMAIN.md, Interconnects)."""
    services = [
        s for s in sorted(inventory.endpoint_services, key=lambda s: s.service_id)
        if "ipv6" not in s.supported_ip_address_types
    ]  # fmt: skip
    endpoints = [
        e for e in sorted(inventory.vpc_endpoints, key=lambda e: e.endpoint_id)
        if e.ip_address_type not in ("dualstack", "ipv6")
    ]  # fmt: skip
    balancers = [
        b for b in sorted(inventory.load_balancers, key=lambda b: b.arn)
        if b.ip_address_type == "ipv4" and b.kind in ("application", "network")
    ]  # fmt: skip
    # Order (DOMAIN.md, Interconnects): a service's network load balancer is dualstack before
    # the service accepts IPv6, and the service before its consumers' endpoints.
    backing = {arn for s in inventory.endpoint_services for arn in s.network_load_balancer_arns}
    chosen = [
        b for b in balancers
        if options.dualstack_load_balancers or (options.dualstack_endpoints and b.arn in backing)
    ]  # fmt: skip
    changes: list[Change] = [DualstackLoadBalancer(target=b.arn) for b in chosen]
    findings: list[Finding] = []
    if options.dualstack_endpoints:
        changes += [EnableEndpointServiceIpv6(target=s.service_id) for s in services]
        changes += [DualstackVpcEndpoint(target=e.endpoint_id) for e in endpoints]
    elif services or endpoints:
        ids = [s.service_id for s in services] + [e.endpoint_id for e in endpoints]
        findings.append(
            _warning(
                "privatelink-ipv4-only",
                f"{len(ids)} endpoint services and interface endpoints stay IPv4 "
                f"({_listed(ids)}). Set options.dualstack_endpoints to make them dual-stack.",
            )
        )
    staying = [b for b in balancers if b not in chosen]
    if staying:
        findings.append(
            _warning(
                "load-balancers-ipv4-only",
                f"{len(staying)} load balancers stay IPv4 ({_listed(b.name for b in staying)})."
                " Set options.dualstack_load_balancers to make them dualstack (internet-facing "
                "ones then answer on IPv6 too).",
            )
        )
    return changes, findings


def _peer_side_routes(inventory: Inventory, peering: Peering) -> list[Change]:
    """Routes back to this VPC's IPv6 block from the peer's tables that route to the peering."""
    block = inventory.vpc.ipv6_block
    destination = block.cidr if block else None
    return [
        AddPeerIpv6Route(
            target=table.route_table_id,
            account_id=peering.peer_owner_id,
            region=peering.peer_region,
            peering_id=peering.peering_id,
            destination=destination,
        )
        for table in sorted(peering.peer_route_tables, key=lambda t: t.route_table_id)
        if destination is None or not table.has_route(destination)
    ]


# --------------------------------------------------------------------------- cluster stages


def _cni_changes(inventory: Inventory, options: PlanOptions) -> list[Change]:
    current = inventory.cni.configuration_values
    if cni.egress_enabled(cni.parse_configuration(current)):
        return []
    return [
        EnableCniIpv6Egress(
            target="vpc-cni" if inventory.cni.managed else "kube-system/aws-node",
            managed=inventory.cni.managed,
            previous_configuration=current,
            configuration=cni.merge_v6_egress(current),
            resolve_conflicts=options.resolve_conflicts,
        )
    ]


def _node_changes(inventory: Inventory, options: PlanOptions) -> tuple[list[Change], list[Finding]]:
    changes: list[Change] = []
    findings: list[Finding] = []
    undrained: list[str] = []
    if not inventory.nodes:
        findings.append(
            _blocker(
                "no-nodes",
                f"Cluster {inventory.cluster.name} has no EC2 node: validation shows pods' IPv6 "
                "egress from a node, so the run would fail at its end and roll back. Scale a "
                "node group to at least one node, then plan again.",
                inventory.cluster.name,
            )
        )
    for group in sorted(inventory.nodegroups, key=lambda g: g.name):
        nodes = [n for n in inventory.nodes if n.nodegroup == group.name]
        if all(n.ipv6_addresses for n in nodes):
            continue  # nothing to roll: every node (if any) has IPv6 already
        if group.kind == "managed" and group.status in ("CREATING", "UPDATING", "DELETING"):
            findings.append(
                _blocker(
                    "nodegroup-not-active",
                    f"Managed node group {group.name} is {group.status}: EKS refuses a second "
                    "update while one runs. Wait until it is ACTIVE, then plan again.",
                    group.name,
                )
            )
        if group.kind == "self-managed" and not group.termination_hook:
            undrained.append(group.name)
        if group.kind == "self-managed":
            changes.append(
                RollNodegroup(
                    target=group.name,
                    strategy="instance-refresh",
                    autoscaling_group=group.autoscaling_groups[0],
                    min_healthy_percentage=options.min_healthy_percentage,
                )
            )
        elif group.launch_template_id:
            changes.append(RollNodegroup(target=group.name, strategy="launch-template-version"))
        elif options.nodegroup_without_launch_template == "replacement":
            changes.append(RollNodegroup(target=group.name, strategy="replacement-group"))
            findings.append(
                _warning(
                    "nodegroup-without-launch-template",
                    f"Managed node group {group.name} has no launch template, so it cannot be "
                    "rolled in place: the plan creates a replacement group with the same "
                    "settings, waits for its nodes, then scales the old group to zero.",
                    group.name,
                )
            )
        else:
            findings.append(
                _blocker(
                    "nodegroup-manual-replacement",
                    f"Managed node group {group.name} has no launch template and the request "
                    "asks for manual replacement: create a new node group in the same subnets, "
                    "drain and delete the old one, then plan again.",
                    group.name,
                )
            )
    findings.extend(_ungrouped_node_findings(inventory, options))
    if inventory.fargate_profiles:
        findings.append(
            _warning(
                "fargate-pods",
                f"Pods of Fargate profiles {_listed(inventory.fargate_profiles)} run on Fargate "
                "nodes, where no aws-node runs: ENABLE_V6_EGRESS does not reach them, so they "
                "get no IPv6 egress from this migration. Validation lists their nodes and "
                "leaves them out.",
            )
        )
    if undrained:
        what = (
            f"Self-managed node groups {_listed(undrained)} have no termination lifecycle hook: "
            "an instance refresh terminates their nodes without draining them, so their pods "
            "stop at once"
        )
        findings.append(
            _warning("refresh-without-drain", f"{what}; options.refresh_without_drain allows it.")
            if options.refresh_without_drain
            else _blocker(
                "refresh-without-drain",
                f"{what}. Add an autoscaling:EC2_INSTANCE_TERMINATING hook with a handler that "
                "drains (aws-node-termination-handler in queue mode), or set "
                "options.refresh_without_drain to accept it; then plan again.",
            )
        )
    return changes, findings


def _ungrouped_node_findings(inventory: Inventory, options: PlanOptions) -> list[Finding]:
    """Nodes outside every node group get IPv6 only when someone replaces them: Karpenter does
    not see IPv6 added to existing subnets as drift (DOMAIN.md, Nodes)."""
    bare = sorted(n.instance_id for n in inventory.nodes if n.nodegroup is None
                  and not n.ipv6_addresses)  # fmt: skip
    if not bare:
        return []
    what = (
        f"{len(bare)} nodes of cluster {inventory.cluster.name} belong to no node group "
        f"({_listed(bare)}): Karpenter, or launched by hand. The run does not cycle them, so "
        "they have no IPv6 until they are replaced after the vpc stage"
    )
    if options.nodes_outside_groups == "block":
        return [
            _blocker(
                "nodes-outside-node-groups",
                f"{what}. Replace them yourself during the run (Karpenter: delete their "
                "NodeClaims once the subnets have IPv6) and set options.nodes_outside_groups to "
                "'validate', or to 'exclude' to leave them out of validation; then plan again.",
            )
        ]
    if options.nodes_outside_groups == "validate":
        return [
            _warning(
                "nodes-outside-node-groups",
                f"{what}. Validation checks them: replace them before it runs.",
            )
        ]
    return [
        _warning(
            "nodes-outside-node-groups",
            f"{what}. Validation leaves them out, as the request asks, and lists them.",
        )
    ]


# --------------------------------------------------------------------------- the planner


def plan(inventory: Inventory, options: PlanOptions) -> Plan:
    findings = _cluster_findings(inventory)
    if any(f.code == "cluster-already-ipv6" for f in findings):
        return _result(inventory, findings, [])
    findings.extend(_cni_findings(inventory, options))
    vpc_changes, vpc_findings = _vpc_changes(inventory, options)
    attachment_changes, attachment_findings = _attachment_changes(inventory, options)
    node_changes, node_findings = _node_changes(inventory, options)
    changes = [*vpc_changes, *attachment_changes, *_cni_changes(inventory, options), *node_changes]
    findings.extend([*vpc_findings, *attachment_findings, *node_findings])
    return _result(inventory, findings, changes)


def _result(inventory: Inventory, findings: list[Finding], changes: list[Change]) -> Plan:
    ordered = sorted(findings, key=lambda f: (f.severity != "blocker", f.code, f.resource or ""))
    rolled = {c.target for c in changes if isinstance(c, RollNodegroup)}
    return Plan(
        cluster=inventory.cluster.name,
        account_id=inventory.account_id,
        region=inventory.region,
        vpc_id=inventory.vpc.vpc_id,
        findings=tuple(ordered),
        changes=tuple(changes),
        nodes_to_roll=sum(1 for node in inventory.nodes if node.nodegroup in rolled),
    )
