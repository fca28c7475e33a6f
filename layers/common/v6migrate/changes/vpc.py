"""The `vpc` stage: the VPC's IPv6 block, subnet /64s, auto-assign, gateway, routes and rules.

Order and constraints from DOMAIN.md (EC2: making the VPC dual-stack) and its rollback list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from v6migrate import cidr
from v6migrate.changes import Context, Immediate, Kept, call, register, wait_until
from v6migrate.errors import ChangeFailed
from v6migrate.models import (
    AddIpv6Route,
    AddNaclIpv6Entry,
    AddSecurityGroupIpv6Rule,
    AssociateSubnetIpv6Cidr,
    AssociateVpcIpv6Cidr,
    CreateEgressOnlyGateway,
    EnableSubnetIpv6AutoAssign,
)


def _state(raw: Any) -> str:
    return str((raw or {}).get("State", "")) if isinstance(raw, dict) else str(raw or "")


def client_token(ctx: Context, change_id: str) -> str:
    """The same token for the same change of the same migration: AWS returns the first result."""
    return hashlib.sha256(f"{ctx.migration_id}/{change_id}".encode()).hexdigest()[:64]


# --------------------------------------------------------------------------- VPC block


def vpc_ipv6_associations(ctx: Context) -> list[dict[str, Any]]:
    vpc: dict[str, Any] = dict(
        ctx.clients.ec2.describe_vpcs(VpcIds=[ctx.inventory.vpc.vpc_id])["Vpcs"][0]
    )
    return list(vpc.get("Ipv6CidrBlockAssociationSet", []))


@register("associate-vpc-ipv6-cidr")
class AssociateVpcBlock:
    def before(self, change: AssociateVpcIpv6Cidr, ctx: Context) -> dict[str, Any]:
        return {"ipv6_blocks": []}

    def start(self, change: AssociateVpcIpv6Cidr, ctx: Context) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"VpcId": change.target}
        if change.ipam_pool_id:
            kwargs.update(
                Ipv6IpamPoolId=change.ipam_pool_id, Ipv6NetmaskLength=change.netmask_length
            )
        else:
            kwargs["AmazonProvidedIpv6CidrBlock"] = True
        response = call(
            ctx.clients.ec2.associate_vpc_cidr_block, "ec2:AssociateVpcCidrBlock", **kwargs
        )
        association = response["Ipv6CidrBlockAssociation"]
        return {"association_id": association["AssociationId"]}

    def wait(
        self, changes: Sequence[AssociateVpcIpv6Cidr], results: list[dict[str, Any]], ctx: Context
    ) -> None:
        # The response holds no CIDR yet: poll until `associated` (DOMAIN.md, EC2 step 1).
        wanted = results[0]["association_id"]
        found: dict[str, Any] = {}

        def associated() -> bool:
            for association in vpc_ipv6_associations(ctx):
                if association["AssociationId"] == wanted:
                    found.update(association)
                    return _state(association.get("Ipv6CidrBlockState")) == "associated"
            return False

        wait_until(associated, f"IPv6 block of {changes[0].target}")
        results[0]["cidr"] = found["Ipv6CidrBlock"]
        ctx.vpc_block = found["Ipv6CidrBlock"]

    def revert(
        self, change: AssociateVpcIpv6Cidr, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        association = result.get("association_id") or _live_vpc_association(ctx)
        if association is None:
            return
        holders = _subnets_holding(ctx, association)
        if holders:
            raise Kept(
                f"{change.target} keeps its IPv6 block: subnets {_listed(holders)} still hold a "
                "/64 from it (AWS refuses to release a block in use)."
            )
        call(
            ctx.clients.ec2.disassociate_vpc_cidr_block, "ec2:DisassociateVpcCidrBlock",
            ok=("InvalidVpcCidrBlockAssociationId.NotFound",), AssociationId=association,
        )  # fmt: skip

        def gone() -> bool:
            return all(
                _state(a.get("Ipv6CidrBlockState")) in ("disassociated", "failed")
                for a in vpc_ipv6_associations(ctx)
                if a["AssociationId"] == association
            )

        wait_until(gone, f"release of the IPv6 block of {change.target}")


def _subnets_holding(ctx: Context, association: str) -> list[str]:
    """Subnets with a live /64 carved from the VPC block of `association`."""
    import ipaddress

    blocks = [
        ipaddress.IPv6Network(a["Ipv6CidrBlock"])
        for a in vpc_ipv6_associations(ctx)
        if a["AssociationId"] == association and a.get("Ipv6CidrBlock")
    ]
    pages = ctx.clients.ec2.get_paginator("describe_subnets").paginate(
        Filters=[{"Name": "vpc-id", "Values": [ctx.inventory.vpc.vpc_id]}]
    )
    return sorted(
        s["SubnetId"]
        for page in pages
        for s in page["Subnets"]
        for a in s.get("Ipv6CidrBlockAssociationSet", [])
        if _state(a.get("Ipv6CidrBlockState")) in ("associating", "associated")
        and any(ipaddress.IPv6Network(a["Ipv6CidrBlock"]).subnet_of(b) for b in blocks)
    )


def _live_vpc_association(ctx: Context) -> str | None:
    for association in vpc_ipv6_associations(ctx):
        if _state(association.get("Ipv6CidrBlockState")) in ("associating", "associated"):
            return str(association["AssociationId"])
    return None


# --------------------------------------------------------------------------- subnet /64s


def _subnets(ctx: Context, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    found = ctx.clients.ec2.describe_subnets(SubnetIds=list(ids))["Subnets"]
    return {s["SubnetId"]: dict(s) for s in found}


@register("associate-subnet-ipv6-cidr")
class AssociateSubnetBlock:
    def before(self, change: AssociateSubnetIpv6Cidr, ctx: Context) -> dict[str, Any]:
        return {"ipv6_cidr": None}

    def start(self, change: AssociateSubnetIpv6Cidr, ctx: Context) -> dict[str, Any]:
        block = ctx.vpc_block
        if change.cidr is None and block is None:
            raise ChangeFailed(f"{change.change_id}: the VPC has no IPv6 block to carve from")
        subnet_cidr = change.cidr or cidr.subnet_cidr(str(block), change.index)
        response = call(
            ctx.clients.ec2.associate_subnet_cidr_block, "ec2:AssociateSubnetCidrBlock",
            SubnetId=change.target, Ipv6CidrBlock=subnet_cidr,
        )  # fmt: skip
        return {
            "association_id": response["Ipv6CidrBlockAssociation"]["AssociationId"],
            "cidr": subnet_cidr,
        }

    def wait(
        self, changes: Sequence[AssociateSubnetIpv6Cidr], results: list[dict[str, Any]],
        ctx: Context,
    ) -> None:  # fmt: skip
        wanted = {r["association_id"] for r in results}

        def associated() -> bool:
            # One filtered read per poll for the whole batch.
            pages = ctx.clients.ec2.get_paginator("describe_subnets").paginate(
                Filters=[{"Name": "vpc-id", "Values": [ctx.inventory.vpc.vpc_id]}]
            )
            states = {
                a["AssociationId"]: _state(a.get("Ipv6CidrBlockState"))
                for page in pages
                for s in page["Subnets"]
                for a in s.get("Ipv6CidrBlockAssociationSet", [])
            }
            return all(states.get(w) == "associated" for w in wanted)

        wait_until(associated, f"{len(wanted)} subnet IPv6 blocks")

    def revert(
        self, change: AssociateSubnetIpv6Cidr, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        subnet = _subnets(ctx, [change.target]).get(change.target, {})
        live = [
            a
            for a in subnet.get("Ipv6CidrBlockAssociationSet", [])
            if _state(a.get("Ipv6CidrBlockState")) in ("associating", "associated")
            and (not result.get("cidr") or a["Ipv6CidrBlock"] == result["cidr"])
        ]
        if not live:
            return
        foreign = _release_addresses(ctx, change.target, live[0]["Ipv6CidrBlock"])
        if foreign:
            raise Kept(
                f"{change.target} keeps {live[0]['Ipv6CidrBlock']}: {_listed(foreign)} still "
                "hold addresses from it and are not this cluster's nodes (AWS refuses to release "
                "a /64 in use). Release it by hand once they are gone."
            )
        association = live[0]["AssociationId"]
        call(
            ctx.clients.ec2.disassociate_subnet_cidr_block, "ec2:DisassociateSubnetCidrBlock",
            ok=("InvalidSubnetCidrBlockAssociationId.NotFound",), AssociationId=association,
        )  # fmt: skip

        def gone() -> bool:
            subnet = _subnets(ctx, [change.target]).get(change.target, {})
            return all(
                _state(a.get("Ipv6CidrBlockState")) in ("disassociated", "failed")
                for a in subnet.get("Ipv6CidrBlockAssociationSet", [])
                if a["AssociationId"] == association
            )

        wait_until(gone, f"release of the /64 of {change.target}")


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:5])
    return shown + (f" and {len(items) - 5} more" if len(items) > 5 else "")


def _release_addresses(ctx: Context, subnet_id: str, block: str) -> list[str]:
    """Addresses from the /64 keep it in use (InvalidCidrBlock.InUse): the cluster's nodes give
    theirs back first. Every other interface is left as it is and returned, described: a
    requester-managed one (NAT gateway, endpoint, load balancer, TGW attachment, Lambda) refuses
    the call, and another team's instance in a shared VPC is not the run's to change (EC2 user
    guide, requester-managed network interfaces; DOMAIN.md, facts found by review)."""
    import ipaddress

    network = ipaddress.ip_network(block)
    nodes = {n.instance_id for n in ctx.inventory.nodes if n.nodegroup is not None}
    foreign: list[str] = []
    pages = ctx.clients.ec2.get_paginator("describe_network_interfaces").paginate(
        Filters=[{"Name": "subnet-id", "Values": [subnet_id]}]
    )
    for page in pages:
        for eni in page["NetworkInterfaces"]:
            addresses = [
                a["Ipv6Address"]
                for a in eni.get("Ipv6Addresses", [])
                if ipaddress.ip_address(a["Ipv6Address"]) in network
            ]
            if not addresses:
                continue
            instance = eni.get("Attachment", {}).get("InstanceId")
            if eni.get("RequesterManaged") or instance not in nodes:
                owner = eni.get("Description") or instance or eni.get("InterfaceType", "")
                foreign.append(f"{eni['NetworkInterfaceId']} ({owner})")
                continue
            call(
                ctx.clients.ec2.unassign_ipv6_addresses, "ec2:UnassignIpv6Addresses",
                NetworkInterfaceId=eni["NetworkInterfaceId"], Ipv6Addresses=addresses,
            )  # fmt: skip
    return sorted(foreign)


# --------------------------------------------------------------------------- auto-assign


@register("enable-subnet-ipv6-auto-assign")
class AutoAssign(Immediate):
    def before(self, change: EnableSubnetIpv6AutoAssign, ctx: Context) -> dict[str, Any]:
        return {"assign_ipv6_on_creation": False}

    def _set(self, ctx: Context, subnet_id: str, value: bool) -> None:
        call(
            ctx.clients.ec2.modify_subnet_attribute, "ec2:ModifySubnetAttribute",
            SubnetId=subnet_id, AssignIpv6AddressOnCreation={"Value": value},
        )  # fmt: skip

    def start(self, change: EnableSubnetIpv6AutoAssign, ctx: Context) -> dict[str, Any]:
        self._set(ctx, change.target, True)
        return {}

    def revert(
        self, change: EnableSubnetIpv6AutoAssign, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        self._set(ctx, change.target, bool(before.get("assign_ipv6_on_creation", False)))


# --------------------------------------------------------------------------- gateway and routes


@register("create-egress-only-gateway")
class EgressOnlyGateway(Immediate):
    def before(self, change: CreateEgressOnlyGateway, ctx: Context) -> dict[str, Any]:
        return {"egress_only_gateway_id": None}

    def start(self, change: CreateEgressOnlyGateway, ctx: Context) -> dict[str, Any]:
        response = call(
            ctx.clients.ec2.create_egress_only_internet_gateway,
            "ec2:CreateEgressOnlyInternetGateway",
            VpcId=change.target,
            ClientToken=client_token(ctx, change.change_id),
            TagSpecifications=[
                {
                    "ResourceType": "egress-only-internet-gateway",
                    "Tags": [{"Key": "v6migrate:migration-id", "Value": ctx.migration_id}],
                }
            ],
        )
        gateway = response["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
        ctx.egress_gateway_id = gateway
        return {"egress_only_gateway_id": gateway}

    def revert(
        self, change: CreateEgressOnlyGateway, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        gateway = result.get("egress_only_gateway_id") or _tagged_gateway(change, ctx)
        if gateway:
            call(
                ctx.clients.ec2.delete_egress_only_internet_gateway,
                "ec2:DeleteEgressOnlyInternetGateway",
                ok=("InvalidGatewayID.NotFound",),
                EgressOnlyInternetGatewayId=gateway,
            )


def _tagged_gateway(change: CreateEgressOnlyGateway, ctx: Context) -> str | None:
    """The gateway this migration made when its answer was lost (the Lambda died after EC2
    created it): found by the migration's tag, set in the same call, so never another's."""
    found = call(
        ctx.clients.ec2.describe_egress_only_internet_gateways,
        "ec2:DescribeEgressOnlyInternetGateways",
        Filters=[{"Name": "tag:v6migrate:migration-id", "Values": [ctx.migration_id]}],
    )["EgressOnlyInternetGateways"]
    ours = [g["EgressOnlyInternetGatewayId"] for g in found
            if any(a.get("VpcId") == change.target for a in g.get("Attachments", []))]  # fmt: skip
    return ours[0] if ours else None


_ROUTE_TARGET = {
    "internet-gateway": "GatewayId",
    "egress-only-gateway": "EgressOnlyInternetGatewayId",
    "transit-gateway": "TransitGatewayId",
    "peering": "VpcPeeringConnectionId",
}


@register("add-ipv6-route")
class Ipv6Route(Immediate):
    def before(self, change: AddIpv6Route, ctx: Context) -> dict[str, Any]:
        return {"route": None}

    def start(self, change: AddIpv6Route, ctx: Context) -> dict[str, Any]:
        gateway = change.gateway_id or ctx.egress_gateway_id
        if gateway is None:
            raise ChangeFailed(f"{change.change_id}: no egress-only gateway to route to")
        kwargs: dict[str, Any] = {
            "RouteTableId": change.target,
            "DestinationIpv6CidrBlock": change.destination,
            _ROUTE_TARGET[change.via]: gateway,
        }
        call(ctx.clients.ec2.create_route, "ec2:CreateRoute", **kwargs)
        return {"gateway_id": gateway}

    def revert(
        self, change: AddIpv6Route, before: dict[str, Any], result: dict[str, Any], ctx: Context
    ) -> None:
        call(
            ctx.clients.ec2.delete_route, "ec2:DeleteRoute", ok=("InvalidRoute.NotFound",),
            RouteTableId=change.target, DestinationIpv6CidrBlock=change.destination,
        )  # fmt: skip


# --------------------------------------------------------------------------- rules


def _permission(change: AddSecurityGroupIpv6Rule) -> dict[str, Any]:
    permission: dict[str, Any] = {
        "IpProtocol": change.protocol,
        "Ipv6Ranges": [{"CidrIpv6": change.cidr_ipv6, "Description": "v6migrate"}],
    }
    if change.from_port is not None:
        permission.update(FromPort=change.from_port, ToPort=change.to_port)
    return permission


@register("add-sg-ipv6-rule")
class SecurityGroupRule(Immediate):
    def before(self, change: AddSecurityGroupIpv6Rule, ctx: Context) -> dict[str, Any]:
        return {"rule": None}

    def start(self, change: AddSecurityGroupIpv6Rule, ctx: Context) -> dict[str, Any]:
        operation = (
            ctx.clients.ec2.authorize_security_group_egress
            if change.egress
            else ctx.clients.ec2.authorize_security_group_ingress
        )
        call(
            operation, "ec2:AuthorizeSecurityGroup", ok=("InvalidPermission.Duplicate",),
            GroupId=change.target, IpPermissions=[_permission(change)],
        )  # fmt: skip
        return {}

    def revert(
        self, change: AddSecurityGroupIpv6Rule, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        operation = (
            ctx.clients.ec2.revoke_security_group_egress
            if change.egress
            else ctx.clients.ec2.revoke_security_group_ingress
        )
        permission = _permission(change)
        permission["Ipv6Ranges"] = [{"CidrIpv6": change.cidr_ipv6}]
        call(
            operation, "ec2:RevokeSecurityGroup", ok=("InvalidPermission.NotFound",),
            GroupId=change.target, IpPermissions=[permission],
        )  # fmt: skip


@register("add-nacl-ipv6-entry")
class NaclEntry(Immediate):
    def before(self, change: AddNaclIpv6Entry, ctx: Context) -> dict[str, Any]:
        return {"entry": None}

    def start(self, change: AddNaclIpv6Entry, ctx: Context) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if change.port_from is not None:
            kwargs["PortRange"] = {"From": change.port_from, "To": change.port_to}
        if change.icmp_type is not None:
            kwargs["IcmpTypeCode"] = {"Type": change.icmp_type, "Code": change.icmp_code}
        call(
            ctx.clients.ec2.create_network_acl_entry, "ec2:CreateNetworkAclEntry",
            NetworkAclId=change.target, RuleNumber=change.rule_number, Protocol=change.protocol,
            RuleAction=change.rule_action, Egress=change.egress, Ipv6CidrBlock=change.cidr_ipv6,
            **kwargs,
        )  # fmt: skip
        return {}

    def revert(
        self, change: AddNaclIpv6Entry, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        call(
            ctx.clients.ec2.delete_network_acl_entry, "ec2:DeleteNetworkAclEntry",
            ok=("InvalidNetworkAclEntry.NotFound",),
            NetworkAclId=change.target, RuleNumber=change.rule_number, Egress=change.egress,
        )  # fmt: skip
