"""The `attachments` stage: Transit Gateway and Cloud WAN attachments carry IPv6.

DOMAIN.md, Interconnects: attachment subnets need IPv6 first (the vpc stage runs before); then
`ModifyTransitGatewayVpcAttachment(Options={'Ipv6Support': 'enable'})` polled to `available`,
and `networkmanager.UpdateVpcAttachment(Options={'Ipv6Support': True})` polled out of
`UPDATING`. IPv6 routes over TGW and peering are `add-ipv6-route` changes (vpc.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from v6migrate.changes import Context, Immediate, call, register, wait_until
from v6migrate.errors import ChangeFailed
from v6migrate.models import (
    AddPeerIpv6Route,
    DualstackLoadBalancer,
    DualstackVpcEndpoint,
    EnableCloudWanAttachmentIpv6,
    EnableEndpointServiceIpv6,
    EnableTgwAttachmentIpv6,
)


def _tgw_options(ctx: Context, attachment_id: str) -> tuple[str, dict[str, Any]]:
    found = ctx.clients.ec2.describe_transit_gateway_vpc_attachments(
        TransitGatewayAttachmentIds=[attachment_id]
    )["TransitGatewayVpcAttachments"]
    if not found:
        raise ChangeFailed(f"Transit Gateway attachment {attachment_id} is gone")
    return str(found[0].get("State", "")), dict(found[0].get("Options", {}))


@register("enable-tgw-attachment-ipv6")
class TgwAttachment:
    def _modify(self, ctx: Context, attachment_id: str, value: str) -> None:
        call(
            ctx.clients.ec2.modify_transit_gateway_vpc_attachment,
            "ec2:ModifyTransitGatewayVpcAttachment",
            TransitGatewayAttachmentId=attachment_id,
            Options={"Ipv6Support": value},
        )

    def _settled(self, ctx: Context, attachment_id: str, value: str) -> bool:
        state, options = _tgw_options(ctx, attachment_id)
        if state in ("failed", "deleted", "rejected"):
            raise ChangeFailed(f"Transit Gateway attachment {attachment_id} is {state}")
        return state == "available" and options.get("Ipv6Support") == value

    def before(self, change: EnableTgwAttachmentIpv6, ctx: Context) -> dict[str, Any]:
        return {"ipv6_support": "disable"}

    def start(self, change: EnableTgwAttachmentIpv6, ctx: Context) -> dict[str, Any]:
        self._modify(ctx, change.target, "enable")
        return {}

    def wait(
        self, changes: Sequence[EnableTgwAttachmentIpv6], results: list[dict[str, Any]],
        ctx: Context,
    ) -> None:  # fmt: skip
        for change in changes:
            target: str = change.target
            wait_until(partial(self._settled, ctx, target, "enable"), f"IPv6 on {target}")

    def revert(
        self, change: EnableTgwAttachmentIpv6, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        value = str(before.get("ipv6_support", "disable"))
        self._modify(ctx, change.target, value)
        wait_until(lambda: self._settled(ctx, change.target, value), f"{change.target} reverted")


def _wan(ctx: Context, attachment_id: str) -> dict[str, Any]:
    response = call(
        ctx.clients.networkmanager.get_vpc_attachment, "networkmanager:GetVpcAttachment",
        AttachmentId=attachment_id,
    )  # fmt: skip
    attachment: dict[str, Any] = response["VpcAttachment"]
    return attachment


@register("enable-cloudwan-attachment-ipv6")
class CloudWanAttachment:
    def _update(self, ctx: Context, attachment_id: str, value: bool) -> None:
        call(
            ctx.clients.networkmanager.update_vpc_attachment,
            "networkmanager:UpdateVpcAttachment",
            AttachmentId=attachment_id,
            Options={"Ipv6Support": value},
        )

    def _settled(self, ctx: Context, attachment_id: str, value: bool) -> bool:
        attachment = _wan(ctx, attachment_id)
        state = attachment["Attachment"].get("State", "")
        if state in ("FAILED", "REJECTED", "DELETING"):
            raise ChangeFailed(f"Cloud WAN attachment {attachment_id} is {state}")
        if state == "PENDING_ATTACHMENT_ACCEPTANCE":
            # Whether an update needs acceptance again is UNCONFIRMED (DOMAIN.md): say so.
            raise ChangeFailed(
                f"Cloud WAN attachment {attachment_id} waits for acceptance by the core "
                "network owner: accept it, then redrive the execution"
            )
        return (
            state == "AVAILABLE" and bool(attachment.get("Options", {}).get("Ipv6Support")) == value
        )

    def before(self, change: EnableCloudWanAttachmentIpv6, ctx: Context) -> dict[str, Any]:
        return {"ipv6_support": False}

    def start(self, change: EnableCloudWanAttachmentIpv6, ctx: Context) -> dict[str, Any]:
        self._update(ctx, change.target, True)
        return {}

    def wait(
        self, changes: Sequence[EnableCloudWanAttachmentIpv6], results: list[dict[str, Any]],
        ctx: Context,
    ) -> None:  # fmt: skip
        for change in changes:
            target: str = change.target
            wait_until(partial(self._settled, ctx, target, True), f"IPv6 on {target}")

    def revert(
        self, change: EnableCloudWanAttachmentIpv6, before: dict[str, Any],
        result: dict[str, Any], ctx: Context,
    ) -> None:  # fmt: skip
        value = bool(before.get("ipv6_support", False))
        self._update(ctx, change.target, value)
        wait_until(lambda: self._settled(ctx, change.target, value), f"{change.target} reverted")


@register("add-peer-ipv6-route")
class PeerRoute(Immediate):
    """The peer's side of a peering routes this VPC's new IPv6 block back (DOMAIN.md,
    Interconnects: IPv6 routes on both sides), in the peer's own account and Region."""

    def before(self, change: AddPeerIpv6Route, ctx: Context) -> dict[str, Any]:
        return {"route": None}

    def start(self, change: AddPeerIpv6Route, ctx: Context) -> dict[str, Any]:
        destination = change.destination or ctx.vpc_block
        if destination is None:
            raise ChangeFailed(f"{change.change_id}: this VPC has no IPv6 block to route to")
        peer = ctx.clients_in(change.account_id, change.region)
        call(
            peer.ec2.create_route,
            "ec2:CreateRoute",
            RouteTableId=change.target,
            DestinationIpv6CidrBlock=destination,
            VpcPeeringConnectionId=change.peering_id,
        )
        return {"destination": destination}

    def revert(
        self, change: AddPeerIpv6Route, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        destination = result.get("destination") or change.destination or ctx.vpc_block
        if destination is None:
            return
        peer = ctx.clients_in(change.account_id, change.region)
        call(
            peer.ec2.delete_route,
            "ec2:DeleteRoute",
            ok=("InvalidRoute.NotFound",),
            RouteTableId=change.target,
            DestinationIpv6CidrBlock=destination,
        )


@register("enable-endpoint-service-ipv6")
class EndpointServiceIpv6(Immediate):
    """Provider side first: the service accepts IPv6 (DOMAIN.md, Interconnects, PrivateLink)."""

    def before(self, change: EnableEndpointServiceIpv6, ctx: Context) -> dict[str, Any]:
        return {"supported_ip_address_types": ["ipv4"]}

    def start(self, change: EnableEndpointServiceIpv6, ctx: Context) -> dict[str, Any]:
        call(
            ctx.clients.ec2.modify_vpc_endpoint_service_configuration,
            "ec2:ModifyVpcEndpointServiceConfiguration",
            ServiceId=change.target,
            AddSupportedIpAddressTypes=["ipv6"],
        )
        return {}

    def revert(
        self, change: EnableEndpointServiceIpv6, before: dict[str, Any],
        result: dict[str, Any], ctx: Context,
    ) -> None:  # fmt: skip
        call(
            ctx.clients.ec2.modify_vpc_endpoint_service_configuration,
            "ec2:ModifyVpcEndpointServiceConfiguration",
            ServiceId=change.target,
            RemoveSupportedIpAddressTypes=["ipv6"],
        )


@register("dualstack-vpc-endpoint")
class VpcEndpointDualstack(Immediate):
    """Consumer side: ModifyVpcEndpoint is throttled hard (bucket 4, 0.3/s): the standard
    retry mode's back-off absorbs it (DOMAIN.md, Interconnects)."""

    def before(self, change: DualstackVpcEndpoint, ctx: Context) -> dict[str, Any]:
        return {"ip_address_type": "ipv4"}

    def _set(self, ctx: Context, endpoint_id: str, value: str) -> None:
        call(
            ctx.clients.ec2.modify_vpc_endpoint,
            "ec2:ModifyVpcEndpoint",
            VpcEndpointId=endpoint_id,
            IpAddressType=value,
        )

    def start(self, change: DualstackVpcEndpoint, ctx: Context) -> dict[str, Any]:
        self._set(ctx, change.target, "dualstack")
        return {}

    def revert(
        self, change: DualstackVpcEndpoint, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        self._set(ctx, change.target, str(before.get("ip_address_type", "ipv4")))


@register("dualstack-load-balancer")
class LoadBalancerDualstack(Immediate):
    def before(self, change: DualstackLoadBalancer, ctx: Context) -> dict[str, Any]:
        return {"ip_address_type": "ipv4"}

    def _set(self, ctx: Context, arn: str, value: str) -> None:
        call(
            ctx.clients.elbv2.set_ip_address_type,
            "elasticloadbalancing:SetIpAddressType",
            LoadBalancerArn=arn,
            IpAddressType=value,
        )

    def start(self, change: DualstackLoadBalancer, ctx: Context) -> dict[str, Any]:
        self._set(ctx, change.target, "dualstack")
        return {}

    def revert(
        self, change: DualstackLoadBalancer, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        self._set(ctx, change.target, str(before.get("ip_address_type", "ipv4")))
