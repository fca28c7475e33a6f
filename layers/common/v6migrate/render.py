"""Plans as people read them. Pure."""

from __future__ import annotations

from v6migrate.models import (
    STAGES,
    AddIpv6Route,
    AddNaclIpv6Entry,
    AddSecurityGroupIpv6Rule,
    AssociateSubnetIpv6Cidr,
    AssociateVpcIpv6Cidr,
    Change,
    ChangeLine,
    CreateEgressOnlyGateway,
    EnableCloudWanAttachmentIpv6,
    EnableCniIpv6Egress,
    EnableSubnetIpv6AutoAssign,
    EnableTgwAttachmentIpv6,
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
            return (
                f"{change.rule_action} {direction} {change.cidr_ipv6} as rule {change.rule_number} "
                f"(twin of rule {change.mirrors_rule}) in {change.target}"
            )
        case EnableTgwAttachmentIpv6():
            return f"enable Ipv6Support on Transit Gateway attachment {change.target}"
        case EnableCloudWanAttachmentIpv6():
            return f"enable Ipv6Support on Cloud WAN attachment {change.target}"
        case EnableCniIpv6Egress(managed=True):
            return "set ENABLE_V6_EGRESS=true in env and init.env of the vpc-cni add-on"
        case EnableCniIpv6Egress():
            return "set ENABLE_V6_EGRESS=true on both containers of the aws-node DaemonSet"
        case RollNodegroup():
            return f"replace the nodes of {change.target} ({change.strategy})"
    raise TypeError(f"no description for {type(change).__name__}")


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
    lines.append(f"{total} change(s) in all; * = not undone by rollback")
    return "\n".join(lines)
