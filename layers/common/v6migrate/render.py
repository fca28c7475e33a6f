"""Plans as people read them. Pure."""

from __future__ import annotations

from v6migrate import cni
from v6migrate.models import (
    STAGES,
    AddIpv6Route,
    AddNaclIpv6Entry,
    AddPeerIpv6Route,
    AddSecurityGroupIpv6Rule,
    AssociateSubnetIpv6Cidr,
    AssociateVpcIpv6Cidr,
    Change,
    ChangeLine,
    CreateEgressOnlyGateway,
    DualstackLoadBalancer,
    DualstackVpcEndpoint,
    EnableCloudWanAttachmentIpv6,
    EnableCniIpv6Egress,
    EnableEndpointServiceIpv6,
    EnableSubnetIpv6AutoAssign,
    EnableTgwAttachmentIpv6,
    Inventory,
    PlanSummary,
    RollNodegroup,
)


def _ports(low: int | None, high: int | None) -> str:
    if low is None:
        return "all ports"
    return f"port {low}" if low == high else f"ports {low}-{high}"


def _protocol(protocol: str) -> str:
    return {"-1": "all traffic", "6": "tcp", "17": "udp", "58": "icmpv6"}.get(protocol, protocol)


def describe(change: Change) -> str:
    match change:
        case AssociateVpcIpv6Cidr(ipam_pool_id=None):
            return f"associate an Amazon-provided /56 with {change.target} (kept on rollback)"
        case AssociateVpcIpv6Cidr():
            return (
                f"associate a /{change.netmask_length} from {change.ipam_pool_id} with "
                f"{change.target} (kept on rollback)"
            )
        case AssociateSubnetIpv6Cidr():
            where = change.cidr or f"/64 number {change.index} of the VPC block"
            return f"associate {where} with {change.target}"
        case EnableSubnetIpv6AutoAssign():
            return f"turn on AssignIpv6AddressOnCreation in {change.target}"
        case CreateEgressOnlyGateway():
            return f"create an egress-only internet gateway in {change.target}"
        case AddIpv6Route():
            via = change.gateway_id or "the new egress-only gateway"
            return f"route {change.destination} -> {via} in {change.target}"
        case AddSecurityGroupIpv6Rule():
            direction = "egress to" if change.egress else "ingress from"
            return (
                f"allow {direction} {change.cidr_ipv6} ({_protocol(change.protocol)}, "
                f"{_ports(change.from_port, change.to_port)}) in {change.target}"
            )
        case AddNaclIpv6Entry():
            direction = "egress" if change.egress else "ingress"
            what = (
                f"icmpv6 type {change.icmp_type} code {change.icmp_code}"
                if change.icmp_type is not None
                else f"{_protocol(change.protocol)}, {_ports(change.port_from, change.port_to)}"
            )
            return (
                f"{change.rule_action} {direction} {change.cidr_ipv6} ({what}) as rule "
                f"{change.rule_number} (twin of rule {change.mirrors_rule}) in {change.target}"
            )
        case AddPeerIpv6Route():
            where = change.destination or "this VPC's IPv6 block"
            return (
                f"route {where} -> {change.peering_id} in the peer's {change.target} "
                f"(account {change.account_id}, {change.region})"
            )
        case EnableTgwAttachmentIpv6():
            return f"enable Ipv6Support on Transit Gateway attachment {change.target}"
        case EnableCloudWanAttachmentIpv6():
            return f"enable Ipv6Support on Cloud WAN attachment {change.target}"
        case EnableEndpointServiceIpv6():
            return f"let endpoint service {change.target} accept IPv6"
        case DualstackVpcEndpoint():
            return f"make interface endpoint {change.target} dualstack"
        case DualstackLoadBalancer():
            return f"make load balancer {change.target.split('/')[-2]} dualstack"
        case EnableCniIpv6Egress(managed=True):
            return "set ENABLE_V6_EGRESS=true in env and init.env of the vpc-cni add-on"
        case EnableCniIpv6Egress():
            return "set ENABLE_V6_EGRESS=true on both containers of the aws-node DaemonSet"
        case RollNodegroup(strategy="launch-template-version"):
            return (
                f"roll node group {change.target} to a new launch template version "
                f"({NODES_ON_ROLLBACK})"
            )
        case RollNodegroup(strategy="replacement-group"):
            return (
                f"replace node group {change.target} by {replacement_name(change.target)}, "
                f"then scale the old one to zero ({NODES_ON_ROLLBACK})"
            )
        case RollNodegroup():
            return (
                f"refresh the instances of {change.target} (min healthy "
                f"{change.min_healthy_percentage}%; {NODES_ON_ROLLBACK})"
            )
    raise TypeError(f"no description for {type(change).__name__}")


NODES_ON_ROLLBACK = "new nodes kept on rollback unless recycle_nodes_on_rollback"


def replacement_name(nodegroup: str) -> str:
    """The replacement of a managed node group without a launch template (63 chars max)."""
    return f"{nodegroup[:59]}-v6"


def change_line(change: Change) -> ChangeLine:
    return ChangeLine(
        stage=change.stage,
        change_id=change.change_id,
        text=describe(change),
        reversible=change.reversible,
    )


def plan_table(summary: PlanSummary) -> str:
    """Blockers first, then warnings, then the changes grouped by stage with a count each."""
    lines = [
        f"Plan for cluster {summary.cluster} (account {summary.account_id}, {summary.region})",
        "",
    ]
    if summary.blockers:
        lines.append(f"BLOCKED: {len(summary.blockers)} blocker(s); nothing will be changed")
        lines.extend(f"  x [{f.code}] {f.message}" for f in summary.blockers)
        lines.append("")
    if summary.warnings:
        lines.append(f"Warnings ({len(summary.warnings)})")
        lines.extend(f"  ! [{f.code}] {f.message}" for f in summary.warnings)
        lines.append("")
    for stage in STAGES:
        changes = [c for c in summary.changes if c.stage == stage]
        lines.append(f"Stage {stage}: {summary.counts.get(stage, 0)} change(s)")
        for change in changes:
            marker = " " if change.reversible else "*"
            lines.append(f"  {marker} {change.text}")
        lines.append("")
    total = sum(summary.counts.values())
    if summary.omitted_changes:
        lines.append(
            f"({summary.omitted_changes} more not listed here: `v6migrate plan` shows them all)"
        )
    lines.append(f"{total} change(s) in all; * = not undone by rollback")
    return "\n".join(lines)


def _network_rows(inventory: Inventory) -> dict[str, str]:
    """What the stages change, one row per resource (or count), as text."""
    block = inventory.vpc.ipv6_block
    rows = {f"vpc {inventory.vpc.vpc_id} IPv6 block": block.cidr or "-" if block else "-"}
    for subnet in sorted(inventory.subnets, key=lambda s: s.cidr_block):
        auto = "auto-assign" if subnet.assign_ipv6_on_creation else "no auto-assign"
        rows[f"subnet {subnet.name or subnet.subnet_id} {subnet.cidr_block}"] = (
            f"{subnet.ipv6_cidr or '-'} ({auto})"
        )
    rows["egress-only gateway"] = inventory.egress_only_gateway_id or "-"
    for table in sorted(inventory.route_tables, key=lambda t: t.route_table_id):
        ipv6 = sorted(f"{r.destination}->{r.target}" for r in table.routes if ":" in r.destination)
        rows[f"routes {table.route_table_id} (IPv6)"] = ", ".join(ipv6) or "-"
    egress = sum(
        any(r.egress and r.cidr_ipv6 == "::/0" for r in g.rules) for g in inventory.security_groups
    )
    rows["security groups with ::/0 egress"] = f"{egress} of {len(inventory.security_groups)}"
    for acl in inventory.network_acls:
        if not acl.is_default:
            rows[f"nacl {acl.network_acl_id} IPv6 entries"] = str(
                sum(e.cidr_ipv6 is not None for e in acl.entries)
            )
    for attachment in inventory.tgw_attachments:
        rows[f"tgw attachment {attachment.attachment_id}"] = (
            "IPv6 on" if attachment.ipv6_support else "IPv6 off"
        )
    for wan in inventory.cloudwan_attachments:
        rows[f"cloud wan {wan.attachment_id}"] = "IPv6 on" if wan.ipv6_support else "IPv6 off"
    configuration = cni.parse_configuration(inventory.cni.configuration_values)
    if inventory.cni.managed:
        rows["vpc-cni ENABLE_V6_EGRESS (env, init.env)"] = (
            "on" if cni.egress_enabled(configuration) else "off"
        )
    rows["nodes with IPv6 on the primary ENI"] = str(
        sum(bool(node.ipv6_addresses) for node in inventory.nodes)
    )
    return rows


def network_table(before: Inventory, after: Inventory) -> str:
    """Before and after, side by side; rows that changed are marked with *."""
    old, new = _network_rows(before), _network_rows(after)
    keys = list(dict.fromkeys([*old, *new]))
    width = max(len(k) for k in keys)
    left = max(len(old.get(k, "-")) for k in keys)
    lines = [f"  {'':<{width}}  {'before':<{left}}  after"]
    for key in keys:
        was, now = old.get(key, "-"), new.get(key, "-")
        mark = "*" if was != now else " "
        lines.append(f"{mark} {key:<{width}}  {was:<{left}}  {now}")
    return "\n".join(lines)
