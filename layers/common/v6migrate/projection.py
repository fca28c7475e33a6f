"""The estate a plan promises: a pure, in-memory model of applying it.

Validation compares what AWS reports with this projection, and the property tests use it to
prove that planning the projected estate gives an empty plan.
"""

from __future__ import annotations

from v6migrate import cidr
from v6migrate.models import (
    AddIpv6Route,
    AddNaclIpv6Entry,
    AddPeerIpv6Route,
    AddSecurityGroupIpv6Rule,
    AssociateSubnetIpv6Cidr,
    AssociateVpcIpv6Cidr,
    CreateEgressOnlyGateway,
    DualstackLoadBalancer,
    DualstackVpcEndpoint,
    EnableCloudWanAttachmentIpv6,
    EnableCniIpv6Egress,
    EnableEndpointServiceIpv6,
    EnableSubnetIpv6AutoAssign,
    EnableTgwAttachmentIpv6,
    Inventory,
    Ipv6Block,
    NaclEntry,
    Node,
    Peering,
    Plan,
    RollNodegroup,
    Route,
    SgRule,
    Subnet,
)

PROJECTED_EGRESS_GATEWAY = "eigw-planned"


def project(inventory: Inventory, plan: Plan, vpc_block: str) -> Inventory:
    """Apply `plan` to `inventory` in memory; `vpc_block` stands for the block AWS would give."""
    vpc = inventory.vpc
    subnets = {s.subnet_id: s for s in inventory.subnets}
    tables = {t.route_table_id: t for t in inventory.route_tables}
    groups = {g.group_id: g for g in inventory.security_groups}
    acls = {a.network_acl_id: a for a in inventory.network_acls}
    tgws = {a.attachment_id: a for a in inventory.tgw_attachments}
    wans = {a.attachment_id: a for a in inventory.cloudwan_attachments}
    peerings = {p.peering_id: p for p in inventory.peerings}
    services = {s.service_id: s for s in inventory.endpoint_services}
    endpoints = {e.endpoint_id: e for e in inventory.vpc_endpoints}
    balancers = {b.arn: b for b in inventory.load_balancers}
    egress_gateway = inventory.egress_only_gateway_id
    block = vpc.ipv6_block.cidr if vpc.ipv6_block and vpc.ipv6_block.cidr else vpc_block
    cni_state = inventory.cni
    rolled: set[str] = set()
    for change in plan.changes:
        match change:
            case AssociateVpcIpv6Cidr():
                association = Ipv6Block(association_id="planned", cidr=block, state="associated")
                vpc = vpc.model_copy(update={"ipv6_blocks": (*vpc.ipv6_blocks, association)})
            case AssociateSubnetIpv6Cidr():
                subnets[change.target] = subnets[change.target].model_copy(
                    update={
                        "ipv6_cidr": change.cidr or cidr.subnet_cidr(block, change.index),
                        "ipv6_state": "associated",
                    }
                )
            case EnableSubnetIpv6AutoAssign():
                subnets[change.target] = subnets[change.target].model_copy(
                    update={"assign_ipv6_on_creation": True}
                )
            case CreateEgressOnlyGateway():
                egress_gateway = PROJECTED_EGRESS_GATEWAY
            case AddIpv6Route():
                table = tables[change.target]
                target = change.gateway_id or egress_gateway or PROJECTED_EGRESS_GATEWAY
                route = Route(destination=change.destination, target=target)
                tables[change.target] = table.model_copy(update={"routes": (*table.routes, route)})
            case AddSecurityGroupIpv6Rule():
                group = groups[change.target]
                rule = SgRule(
                    egress=change.egress,
                    protocol=change.protocol,
                    from_port=change.from_port,
                    to_port=change.to_port,
                    cidr_ipv6=change.cidr_ipv6,
                )
                groups[change.target] = group.model_copy(update={"rules": (*group.rules, rule)})
            case AddNaclIpv6Entry():
                acl = acls[change.target]
                entry = NaclEntry(
                    rule_number=change.rule_number,
                    egress=change.egress,
                    protocol=change.protocol,
                    action=change.rule_action,
                    cidr_ipv6=change.cidr_ipv6,
                    port_from=change.port_from,
                    port_to=change.port_to,
                    icmp_type=change.icmp_type,
                    icmp_code=change.icmp_code,
                )
                acls[change.target] = acl.model_copy(update={"entries": (*acl.entries, entry)})
            case EnableTgwAttachmentIpv6():
                tgws[change.target] = tgws[change.target].model_copy(update={"ipv6_support": True})
            case AddPeerIpv6Route():
                peerings[change.peering_id] = _with_peer_route(
                    peerings[change.peering_id], change.target, change.destination or block
                )
            case EnableCloudWanAttachmentIpv6():
                wans[change.target] = wans[change.target].model_copy(update={"ipv6_support": True})
            case EnableEndpointServiceIpv6():
                services[change.target] = services[change.target].model_copy(
                    update={
                        "supported_ip_address_types": (
                            *services[change.target].supported_ip_address_types,
                            "ipv6",
                        )
                    }
                )
            case DualstackVpcEndpoint():
                endpoints[change.target] = endpoints[change.target].model_copy(
                    update={"ip_address_type": "dualstack"}
                )
            case DualstackLoadBalancer():
                balancers[change.target] = balancers[change.target].model_copy(
                    update={"ip_address_type": "dualstack"}
                )
            case EnableCniIpv6Egress():
                cni_state = cni_state.model_copy(
                    update={"configuration_values": change.configuration}
                )
            case RollNodegroup():
                rolled.add(change.target)
    nodes = tuple(_rolled(node, subnets, rolled) for node in inventory.nodes)
    return inventory.model_copy(
        update={
            "vpc": vpc,
            "subnets": tuple(subnets.values()),
            "route_tables": tuple(tables.values()),
            "security_groups": tuple(groups.values()),
            "network_acls": tuple(acls.values()),
            "egress_only_gateway_id": egress_gateway,
            "tgw_attachments": tuple(tgws.values()),
            "cloudwan_attachments": tuple(wans.values()),
            "peerings": tuple(peerings.values()),
            "endpoint_services": tuple(services.values()),
            "vpc_endpoints": tuple(endpoints.values()),
            "load_balancers": tuple(balancers.values()),
            "cni": cni_state,
            "nodes": nodes,
        }
    )


def _with_peer_route(peering: Peering, table_id: str, destination: str) -> Peering:
    tables = tuple(
        t.model_copy(
            update={
                "routes": (*t.routes, Route(destination=destination, target=peering.peering_id))
            }
        )
        if t.route_table_id == table_id
        else t
        for t in peering.peer_route_tables
    )
    return peering.model_copy(update={"peer_route_tables": tables})


def _rolled(node: Node, subnets: dict[str, Subnet], rolled: set[str]) -> Node:
    """A node of a rolled group is replaced by one with an address from its subnet's /64."""
    if node.nodegroup not in rolled or node.ipv6_addresses:
        return node
    subnet = subnets.get(node.subnet_id)
    subnet_cidr = subnet.ipv6_cidr if subnet else None
    if not subnet_cidr:
        return node
    address = subnet_cidr.split("/")[0] + "1"
    return node.model_copy(update={"ipv6_addresses": (address,)})
