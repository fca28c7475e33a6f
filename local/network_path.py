"""Whether a TCP connection from an instance to an IPv6 address on the internet gets out and its
answer gets back, decided from the EC2 state as VPC does (Amazon VPC user guide):

- route tables: the subnet's own table, else the VPC's main one; the most specific route that
  contains the destination wins; the internet is reached only through an internet gateway
  attached to the VPC or an egress-only internet gateway that exists (a route to a deleted
  gateway is a blackhole);
- security groups: stateful; one egress rule of any of the interface's groups must allow the
  protocol and port to a range containing the destination; the answer needs no rule;
- network ACLs: stateless; the subnet's ACL's entries are read lowest rule number first, the
  first one that matches decides, and a packet no entry matches is denied. Outbound the
  destination port, inbound the answer to the client's ephemeral port (1024-65535: Linux uses
  32768-60999, so a rule for 1024-65535 or 32768-65535 allows it).
"""

from __future__ import annotations

import ipaddress
from typing import Any

TCP = "6"
CLIENT_PORT = 49152  # inside Linux's ephemeral range, as the probe's wget would use


def _table(ec2: Any, subnet_id: str, vpc_id: str) -> Any:
    tables = ec2.describe_route_tables(filters={"association.subnet-id": [subnet_id]})
    if tables:
        return tables[0]
    main = [
        t for t in ec2.describe_route_tables(filters={"vpc-id": [vpc_id]})
        if t.main_association_id is not None
    ]  # fmt: skip
    return main[0] if main else None


def _route_out(ec2: Any, subnet_id: str, vpc_id: str, dest: Any) -> str | None:
    table = _table(ec2, subnet_id, vpc_id)
    if table is None:
        return f"subnet {subnet_id} has no route table"
    matching = [
        (ipaddress.ip_network(r.destination_ipv6_cidr_block), r)
        for r in table.routes
        if r.destination_ipv6_cidr_block
        and dest in ipaddress.ip_network(r.destination_ipv6_cidr_block)
    ]
    if not matching:
        return f"route table {table.id} has no route to {dest}"
    _, route = max(matching, key=lambda pair: pair[0].prefixlen)
    gateway = route.gateway
    if gateway is not None and str(gateway.id).startswith("igw-"):
        live = ec2.internet_gateways.get(gateway.id)
        if live is not None and live.vpc is not None and live.vpc.id == vpc_id:
            return None
        return f"route table {table.id}: internet gateway {gateway.id} is not attached"
    eigw = route.egress_only_igw
    if eigw is not None:
        if eigw.id in ec2.egress_only_internet_gateways:
            return None
        return f"route table {table.id}: egress-only gateway {eigw.id} no longer exists"
    return (
        f"route table {table.id} sends {route.destination_ipv6_cidr_block} to a target that "
        "is not an internet gateway"
    )


def _port_in(port: int, low: Any, high: Any) -> bool:
    return low is None or high is None or int(low) <= port <= int(high)


def _security_groups_allow(groups: list[Any], dest: Any, port: int) -> bool:
    for group in groups:
        for rule in group.egress_rules:
            cidr = (rule.ip_range or {}).get("CidrIpv6")
            if not cidr or dest not in ipaddress.ip_network(cidr):
                continue
            if rule.ip_protocol == "-1" or (
                rule.ip_protocol in ("tcp", TCP) and _port_in(port, rule.from_port, rule.to_port)
            ):
                return True
    return False


def _acl_decides(acl: Any, egress: bool, peer: Any, port: int) -> tuple[bool, str]:
    entries = sorted(
        (e for e in acl.network_acl_entries if bool(e.egress) == egress and e.ipv6_cidr_block),
        key=lambda e: int(e.rule_number),
    )
    for entry in entries:
        if peer not in ipaddress.ip_network(entry.ipv6_cidr_block):
            continue
        if str(entry.protocol) not in ("-1", TCP):
            continue
        if str(entry.protocol) == TCP and not _port_in(
            port, entry.port_range_from, entry.port_range_to
        ):
            continue
        return entry.rule_action == "allow", f"rule {entry.rule_number}"
    return False, "no rule (the final deny)"


def tcp_out(ec2: Any, instance: Any, dest: str, port: int) -> str | None:
    """None when a TCP connection from `instance`'s primary interface to `dest`:`port` leaves
    the VPC and its answer comes back; otherwise what stops it."""
    target = ipaddress.ip_address(dest)
    blocked = _route_out(ec2, instance.subnet_id, instance.vpc_id, target)
    if blocked:
        return blocked
    primary = instance.nics[0]
    groups = list(primary.group_set)
    if not _security_groups_allow(groups, target, port):
        names = ", ".join(g.id for g in groups)
        return f"security groups {names} allow no IPv6 egress to {dest} port {port}"
    acls = [
        a for a in ec2.network_acls.values()
        if any(assoc.subnet_id == instance.subnet_id for assoc in a.associations)
    ]  # fmt: skip
    for acl in acls:
        allowed, rule = _acl_decides(acl, True, target, port)
        if not allowed:
            return f"network ACL {acl.id} denies it outbound ({rule})"
        allowed, rule = _acl_decides(acl, False, target, CLIENT_PORT)
        if not allowed:
            return f"network ACL {acl.id} denies the answer inbound ({rule})"
    return None
