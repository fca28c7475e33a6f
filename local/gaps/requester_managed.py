"""Requester-managed network interfaces: made by AWS services in your subnets, not yours to change.

Amazon EC2 user guide, "Requester-managed network interfaces": a service (a NAT gateway, an
interface VPC endpoint, a load balancer, a Transit Gateway attachment, Lambda, RDS, ...) creates
the interface in your VPC on your behalf; you can see it and tag it, but you cannot change its
other properties, assign or unassign its addresses, or detach it. DescribeNetworkInterfaces shows
`RequesterManaged: true`, the service in `RequesterId` and `InterfaceType`, and the owner in
`Description`.

moto 5.2.5 makes plain interfaces for NAT gateways and interface endpoints (`RequesterManaged`
false) and none at all for load balancers and Transit Gateway attachments; and it lets anyone
unassign their addresses. Here each service makes its interfaces requester-managed, and
UnassignIpv6Addresses / AssignIpv6Addresses on one are refused. The error code AWS returns for
that case is not in the API reference; `OperationNotPermitted` is the common client error for an
operation the resource does not allow (EC2 API reference, "Common client error codes").

A load balancer's interfaces take an IPv6 address from their subnet's /64 when it becomes
`dualstack` and give it back when it returns to `ipv4` (Elastic Load Balancing, "IP address
types"): the service does that itself, no caller can.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
from moto.ec2.models.nat_gateways import NatGatewayBackend
from moto.ec2.models.transit_gateway_attachments import TransitGatewayAttachmentBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.utils import random_private_ip
from moto.elbv2.models import ELBv2Backend

from local.gaps.ec2 import _live_ipv6_block
from local.gaps.ec2_ipv6 import _mark, _once


def _mark_requester_managed(eni: Any, kind: str, requester: str, description: str) -> None:
    eni.requester_managed = True
    eni.interface_type = kind
    eni.requester_id = requester
    eni.description = description


def _service_interface(backend: Any, subnet_id: str, kind: str, requester: str, text: str) -> Any:
    """An interface a service makes for itself: no IPv6 unless the service asks for one."""
    subnet = backend.get_subnet(subnet_id)
    eni = backend.create_network_interface(subnet, random_private_ip(subnet.cidr_block))
    eni.ipv6_addresses.clear()
    _mark_requester_managed(eni, kind, requester, text)
    return eni


def requester_managed_interfaces() -> None:
    """NAT gateways, interface endpoints, load balancers and TGW attachments own their ENIs."""
    nat = _once(NatGatewayBackend, "create_nat_gateway")
    if nat is None:
        return

    def create_nat_gateway(self: Any, *args: Any, **kwargs: Any) -> Any:
        gateway = nat(self, *args, **kwargs)
        eni = gateway._eni
        eni.ipv6_addresses.clear()
        _mark_requester_managed(
            eni, "nat_gateway", "amazon-vpc", f"Interface for NAT Gateway {gateway.id}"
        )
        return gateway

    NatGatewayBackend.create_nat_gateway = _mark(create_nat_gateway)  # type: ignore[method-assign]

    endpoint = VPCBackend.create_vpc_endpoint

    def create_vpc_endpoint(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = endpoint(self, *args, **kwargs)
        for eni_id in getattr(made, "network_interface_ids", None) or []:
            eni = self.get_network_interface(eni_id)
            dualstack = str(getattr(made, "ip_address_type", "ipv4")) in ("dualstack", "ipv6")
            if not dualstack:
                eni.ipv6_addresses.clear()
            _mark_requester_managed(
                eni, "vpc_endpoint", "amazon-vpce", f"VPC Endpoint Interface {made.id}"
            )
        return made

    VPCBackend.create_vpc_endpoint = create_vpc_endpoint  # type: ignore[method-assign]

    attach = TransitGatewayAttachmentBackend.create_transit_gateway_vpc_attachment

    def create_transit_gateway_vpc_attachment(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = attach(self, *args, **kwargs)
        made.__dict__["_v6_enis"] = [
            _service_interface(
                self, subnet_id, "transit_gateway", "amazon-tgw",
                f"Network Interface for Transit Gateway Attachment {made.id}",
            ).id
            for subnet_id in made.subnet_ids
        ]  # fmt: skip
        return made

    TransitGatewayAttachmentBackend.create_transit_gateway_vpc_attachment = (  # type: ignore[method-assign]
        create_transit_gateway_vpc_attachment
    )

    modify = TransitGatewayAttachmentBackend.modify_transit_gateway_vpc_attachment

    def modify_transit_gateway_vpc_attachment(self: Any, *args: Any, **kwargs: Any) -> Any:
        # EC2 API reference, ModifyTransitGatewayVpcAttachmentRequestOptions, Ipv6Support: with
        # it enabled the attachment's network interface receives an IPv6 address; disabled, not.
        made = modify(self, *args, **kwargs)
        options = getattr(made, "options", {}) or {}
        on = str(options.get("Ipv6Support", "disable")).lower() == "enable"
        _hold_ipv6(self, made.__dict__.get("_v6_enis", []), on)
        return made

    TransitGatewayAttachmentBackend.modify_transit_gateway_vpc_attachment = (  # type: ignore[method-assign]
        modify_transit_gateway_vpc_attachment
    )

    create_lb = ELBv2Backend.create_load_balancer

    def create_load_balancer(self: Any, *args: Any, **kwargs: Any) -> Any:
        balancer = create_lb(self, *args, **kwargs)
        kind = "network_load_balancer" if balancer.type == "network" else "interface"
        name = balancer.arn.split(":loadbalancer/", 1)[-1]
        balancer.__dict__["_v6_enis"] = [
            _service_interface(self.ec2_backend, subnet.id, kind, "amazon-elb", f"ELB {name}").id
            for subnet in balancer.subnets
        ]
        _follow_ip_address_type(self.ec2_backend, balancer)
        return balancer

    ELBv2Backend.create_load_balancer = create_load_balancer  # type: ignore[method-assign]

    set_type = ELBv2Backend.set_ip_address_type

    def set_ip_address_type(self: Any, arn: str, ip_type: str) -> None:
        set_type(self, arn, ip_type)
        _follow_ip_address_type(self.ec2_backend, self.load_balancers[arn])

    ELBv2Backend.set_ip_address_type = set_ip_address_type  # type: ignore[method-assign]

    for name in ("unassign_ipv6_addresses", "assign_ipv6_addresses"):
        _refuse_on_requester_managed(name)


def _follow_ip_address_type(ec2: Any, balancer: Any) -> None:
    """The load balancer's own interfaces hold an IPv6 address exactly while it is dualstack."""
    dualstack = str(balancer.ip_address_type).startswith("dualstack")
    _hold_ipv6(ec2, balancer.__dict__.get("_v6_enis", []), dualstack)


def _hold_ipv6(ec2: Any, eni_ids: list[str], on: bool) -> None:
    """A service's interfaces take one IPv6 address from their subnet's /64 (when it has one)
    while `on`, and give it back when not."""
    for eni_id in eni_ids:
        eni = ec2.get_network_interface(eni_id)
        if not on:
            eni.ipv6_addresses.clear()
            continue
        block = _live_ipv6_block(eni.subnet)
        if block and not eni.ipv6_addresses:
            network = ipaddress.ip_network(block)
            host = int.from_bytes(eni.id.encode()[-6:], "big") % (2**32) + 16
            eni.ipv6_addresses.append(str(network[host]))


def _refuse_on_requester_managed(name: str) -> None:
    original = getattr(NetworkInterfaceBackend, name)

    def refuse(self: Any, eni_id: str, *args: Any, **kwargs: Any) -> Any:
        eni = self.get_network_interface(eni_id)
        if getattr(eni, "requester_managed", False):
            raise EC2ClientError(
                "OperationNotPermitted",
                f"The network interface {eni_id} is requester-managed by {eni.requester_id}: "
                "its addresses cannot be changed.",
            )
        return original(self, eni_id, *args, **kwargs)

    setattr(NetworkInterfaceBackend, name, refuse)
