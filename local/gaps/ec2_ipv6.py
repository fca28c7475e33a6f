"""EC2 IPv6 behaviour moto 5.2.5 does not reproduce: refusals and state transitions.

The exact error codes for the /64 refusals are not all documented; the ones used here are
the closest documented EC2 codes (marked UNCONFIRMED where no source confirmed the case).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.route_tables import RouteBackend
from moto.ec2.models.subnets import Subnet, SubnetBackend
from moto.ec2.models.transit_gateway_attachments import (
    TransitGatewayAttachment,
    TransitGatewayAttachmentBackend,
)
from moto.ec2.models.vpcs import VPC, VPCBackend

from local.gaps.timing import CLOCK, SETTLE, settling

_MARK = "_v6migrate"


def _once(owner: Any, name: str) -> Any:
    original = getattr(owner, name)
    return None if getattr(original, _MARK, False) else original


def _mark(function: Any) -> Any:
    setattr(function, _MARK, True)
    return function


def _live(association: dict[str, Any]) -> bool:
    raw = association.get("ipv6CidrBlockState")
    state = raw.get("State") if isinstance(raw, dict) else raw
    return state in ("associating", "associated")


def _associated(association: dict[str, Any]) -> bool:
    return _live(association) and not settling(association.get("_v6_created"), "subnet-associating")


def _seen_state(association: dict[str, Any], raw: str | None, kind: str) -> str | None:
    """The state a caller reads now: `associating` until the association settles, and
    `disassociating` for a while after DisassociateSubnetCidrBlock/DisassociateVpcCidrBlock
    (their sample responses answer `disassociating`; the block is then `disassociated`)."""
    if raw == "associated" and settling(association.get("_v6_created"), f"{kind}-associating"):
        return "associating"
    if raw == "disassociated" and settling(
        association.get("_v6_released"), f"{kind}-disassociating"
    ):
        return "disassociating"
    return raw


# IPv6 CIDR blocks per VPC: 5 (Amazon VPC quotas, general reference); moto allows one.
IPV6_BLOCKS_PER_VPC = 5


def association_transitions() -> None:
    """Associations pass through `associating` before `associated` (DOMAIN.md, EC2 steps 1-2),
    and through `disassociating` before `disassociated` (EC2 API reference,
    DisassociateSubnetCidrBlock, sample response), for `timing.DURATIONS` on the simulated clock.

    moto reports `associated` and `disassociated` at once (and answers AssociateSubnetCidrBlock
    with `associated`): here callers must poll the state AWS reports. A VPC takes up to five
    IPv6 blocks, Amazon-provided ones included (moto: one).
    """
    original_subnet = _once(Subnet, "attach_ipv6_cidr_block_associations")
    if original_subnet is None:
        return

    def attach(self: Subnet, ipv6_cidr_block: str) -> dict[str, Any]:
        association: dict[str, Any] = original_subnet(self, ipv6_cidr_block)
        association["_v6_created"] = CLOCK.now()
        return association

    Subnet.attach_ipv6_cidr_block_associations = _mark(attach)  # type: ignore[method-assign]
    detach = Subnet.detach_subnet_cidr_block

    def release(self: Subnet, association_id: str) -> dict[str, Any]:
        association: dict[str, Any] = detach(self, association_id)
        association["_v6_released"] = CLOCK.now()
        return association

    Subnet.detach_subnet_cidr_block = release  # type: ignore[method-assign]

    def subnet_set(self: Subnet) -> list[dict[str, Any]]:
        return [
            _subnet_view(association) for association in self.ipv6_cidr_block_associations.values()
        ]

    Subnet.ipv6_cidr_block_association_set = property(subnet_set)  # type: ignore[method-assign,assignment]
    # The answers of the calls themselves: the state as read at that moment
    associate_call = SubnetBackend.associate_subnet_cidr_block
    disassociate_call = SubnetBackend.disassociate_subnet_cidr_block

    def associate_answer(self: Any, subnet_id: str, ipv6_cidr_block: str) -> dict[str, Any]:
        return _answer(associate_call(self, subnet_id, ipv6_cidr_block))

    def disassociate_answer(self: Any, association_id: str) -> tuple[str, dict[str, Any]]:
        subnet_id, association = disassociate_call(self, association_id)
        return subnet_id, _answer(association)

    SubnetBackend.associate_subnet_cidr_block = associate_answer  # type: ignore[method-assign]
    SubnetBackend.disassociate_subnet_cidr_block = disassociate_answer  # type: ignore[method-assign]

    original_vpc = VPC.associate_vpc_cidr_block

    def associate_vpc(
        self: VPC, cidr_block: str | None, amazon_provided_ipv6_cidr_block: bool = False,
        ipv6_cidr_block_network_border_group: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        if amazon_provided_ipv6_cidr_block:
            live = [
                a for a in self.get_cidr_block_association_set(ipv6=True)
                if a.get("cidr_block_state", {}).get("state") != "disassociated"
            ]  # fmt: skip
            if len(live) >= IPV6_BLOCKS_PER_VPC:
                raise EC2ClientError(
                    "CidrLimitExceeded",
                    f"This network '{self.id}' has met its maximum number of allowed CIDRs: "
                    f"{IPV6_BLOCKS_PER_VPC}",
                )
            # moto's own count of Amazon blocks stops at one: ask it for a block it does not
            # count, then mark it Amazon's as moto would
            from moto.ec2.models import vpcs  # its `random_ipv6_cidr`, which gaps.ipam sets

            block = vpcs.random_ipv6_cidr()  # type: ignore[attr-defined]
            association: dict[str, Any] = original_vpc(self, block, False)
            association["ipv6_pool"] = "Amazon"
            association["ipv6_cidr_block_network_border_group"] = (
                ipv6_cidr_block_network_border_group
            )
        else:
            association = original_vpc(
                self, str(cidr_block), False, ipv6_cidr_block_network_border_group
            )
        association["_v6_created"] = CLOCK.now()
        return association

    VPC.associate_vpc_cidr_block = associate_vpc  # type: ignore[method-assign]
    original_release = VPC.disassociate_vpc_cidr_block

    def release_vpc(self: VPC, association_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = original_release(self, association_id)
        entry = self._cidr_block_association_set.get(association_id)
        if entry:
            entry["_v6_released"] = CLOCK.now()
        return answer

    VPC.disassociate_vpc_cidr_block = release_vpc  # type: ignore[method-assign]
    vpc_set = VPC.ipv6_cidr_block_association_set.fget  # type: ignore[attr-defined]

    def ipv6_set(self: VPC) -> list[dict[str, Any]]:
        shown = []
        for association in vpc_set(self):
            state = dict(association["ipv6CidrBlockState"])
            state["state"] = _seen_state(association, state.get("state"), "vpc")
            shown.append({**association, "ipv6CidrBlockState": state})
        return shown

    VPC.ipv6_cidr_block_association_set = property(ipv6_set)  # type: ignore[method-assign,assignment]


def _subnet_view(association: dict[str, Any]) -> dict[str, Any]:
    raw = association.get("ipv6CidrBlockState")
    state = raw.get("State") if isinstance(raw, dict) else raw
    return {
        "ipv6CidrBlock": association["ipv6CidrBlock"],
        "associationId": association["associationId"],
        "ipv6CidrBlockState": {"state": _seen_state(association, state, "subnet")},
    }


def _answer(association: dict[str, Any]) -> dict[str, Any]:
    view = _subnet_view(association)
    return {
        "AssociationId": view["associationId"],
        "Ipv6CidrBlock": view["ipv6CidrBlock"],
        "Ipv6CidrBlockState": {"State": view["ipv6CidrBlockState"]["state"]},
    }


def _in_use(code_message: str) -> EC2ClientError:
    return EC2ClientError("InvalidCidrBlock.InUse", code_message)


def _vpc_blocks(backend: Any, vpc_id: str) -> list[ipaddress.IPv6Network]:
    vpc = backend.get_vpc(vpc_id)
    return [
        ipaddress.IPv6Network(a["cidr_block"])
        for a in vpc.get_cidr_block_association_set(ipv6=True)
        if a.get("cidr_block_state", {}).get("state") == "associated"
    ]


def _subnet_blocks(subnet: Subnet) -> list[tuple[dict[str, Any], ipaddress.IPv6Network]]:
    return [
        (a, ipaddress.IPv6Network(a["ipv6CidrBlock"]))
        for a in subnet.ipv6_cidr_block_associations.values()
        if _live(a)
    ]


def subnet_block_validation() -> None:
    """AssociateSubnetCidrBlock: one /64 per subnet, inside an associated VPC block, unused.

    DOMAIN.md, EC2 step 2 ("One IPv6 CIDR per subnet", /64 from the VPC's block); moto accepts
    any CIDR. Codes: InvalidSubnet.Range (outside), InvalidSubnet.Conflict (used by another
    subnet), InvalidParameterValue (not a /64, or the subnet already has one; UNCONFIRMED).
    """
    original = _once(SubnetBackend, "associate_subnet_cidr_block")
    if original is None:
        return

    def associate(self: Any, subnet_id: str, ipv6_cidr_block: str) -> dict[str, Any]:
        subnet = self.get_subnet(subnet_id)
        if _subnet_blocks(subnet):
            raise EC2ClientError(
                "InvalidParameterValue", f"Subnet {subnet_id} already has an IPv6 CIDR block."
            )
        _check_subnet_block(self, subnet.vpc_id, ipv6_cidr_block)
        result: dict[str, Any] = original(self, subnet_id, ipv6_cidr_block)
        return result

    SubnetBackend.associate_subnet_cidr_block = _mark(associate)  # type: ignore[method-assign]
    # CreateSubnet with Ipv6CidrBlock takes the same /64, with the same checks (EC2 API
    # reference, CreateSubnet); moto skips them all
    create = _once(SubnetBackend, "create_subnet")
    if create is None:
        return

    def create_subnet(self: Any, vpc_id: str, cidr_block: str, *args: Any, **kwargs: Any) -> Any:
        block = kwargs.get("ipv6_cidr_block", args[0] if args else None)
        if block:
            _check_subnet_block(self, vpc_id, block)
        return create(self, vpc_id, cidr_block, *args, **kwargs)

    SubnetBackend.create_subnet = _mark(create_subnet)  # type: ignore[method-assign]


def _check_subnet_block(backend: Any, vpc_id: str, ipv6_cidr_block: str) -> None:
    """A /64 network (no host bits), inside one of the VPC's associated blocks, no other
    subnet's: InvalidParameterValue, InvalidSubnet.Range, InvalidSubnet.Conflict."""
    try:
        wanted = ipaddress.ip_network(ipv6_cidr_block)
    except ValueError as error:  # not a CIDR, or host bits set
        raise EC2ClientError(
            "InvalidParameterValue", f"Value ({ipv6_cidr_block}) for Ipv6CidrBlock is invalid."
        ) from error
    if wanted.version != 6 or wanted.prefixlen != 64:
        raise EC2ClientError(
            "InvalidParameterValue", f"The IPv6 CIDR {ipv6_cidr_block} must be a /64."
        )
    if not any(wanted.subnet_of(block) for block in _vpc_blocks(backend, vpc_id)):
        raise EC2ClientError("InvalidSubnet.Range", f"The CIDR '{ipv6_cidr_block}' is invalid.")
    for other in backend.describe_subnets(filters={"vpc-id": [vpc_id]}):
        if any(block.overlaps(wanted) for _, block in _subnet_blocks(other)):
            raise EC2ClientError(
                "InvalidSubnet.Conflict",
                f"The CIDR '{ipv6_cidr_block}' conflicts with another subnet",
            )


def auto_assign_needs_a_block() -> None:
    """ModifySubnetAttribute AssignIpv6AddressOnCreation=true fails with InvalidParameterValue
    before the subnet's IPv6 block is `associated` (DOMAIN.md, EC2 step 3)."""
    original = _once(SubnetBackend, "modify_subnet_attribute")
    if original is None:
        return

    def modify(self: Any, subnet_id: str, attr_name: str, attr_value: Any) -> None:
        if attr_name == "assign_ipv6_address_on_creation" and str(attr_value).lower() == "true":
            subnet = self.get_subnet(subnet_id)
            if not any(_associated(a) for a in subnet.ipv6_cidr_block_associations.values()):
                raise EC2ClientError(
                    "InvalidParameterValue",
                    f"Subnet {subnet_id} has no associated IPv6 CIDR block.",
                )
        original(self, subnet_id, attr_name, attr_value)

    SubnetBackend.modify_subnet_attribute = _mark(modify)  # type: ignore[method-assign]


def _enis_using(backend: Any, subnet: Subnet, block: ipaddress.IPv6Network) -> list[str]:
    enis: dict[str, NetworkInterface] = backend.enis
    return [
        eni.id
        for eni in enis.values()
        if eni.subnet.id == subnet.id
        and any(ipaddress.ip_address(a) in block for a in eni.ipv6_addresses if a)
    ]


def cidr_in_use_refusals() -> None:
    """InvalidCidrBlock.InUse (DOMAIN.md, Rollback constraints).

    DisassociateSubnetCidrBlock fails while ENIs hold addresses from the /64 or while
    AssignIpv6AddressOnCreation is on; DisassociateVpcCidrBlock fails while a subnet holds a
    /64 from the block. moto lets both through.
    """
    original_subnet = _once(SubnetBackend, "disassociate_subnet_cidr_block")
    if original_subnet is None:
        return

    def disassociate_subnet(self: Any, association_id: str) -> Any:
        subnet = self.get_subnet_from_ipv6_association(association_id)
        if subnet is not None:
            association = subnet.ipv6_cidr_block_associations[association_id]
            block = ipaddress.IPv6Network(association["ipv6CidrBlock"])
            users = _enis_using(self, subnet, block)
            if users:
                raise _in_use(
                    f"The IPv6 CIDR block {block} is in use by network interfaces "
                    f"{', '.join(sorted(users))}."
                )
            if str(subnet.assign_ipv6_address_on_creation).lower() == "true":
                raise _in_use(
                    f"Subnet {subnet.id} assigns IPv6 addresses on creation; turn it off first."
                )
        return original_subnet(self, association_id)

    SubnetBackend.disassociate_subnet_cidr_block = _mark(disassociate_subnet)  # type: ignore[method-assign]

    original_vpc = VPCBackend.disassociate_vpc_cidr_block

    def disassociate_vpc(self: Any, association_id: str) -> Any:
        for vpc in self.vpcs.values():
            entry = vpc._cidr_block_association_set.get(association_id)
            if not entry or "::/" not in entry.get("cidr_block", ""):
                continue
            block = ipaddress.IPv6Network(entry["cidr_block"])
            for subnet in self.describe_subnets(filters={"vpc-id": [vpc.id]}):
                if any(child.subnet_of(block) for _, child in _subnet_blocks(subnet)):
                    raise _in_use(f"The IPv6 CIDR block {block} is in use by subnet {subnet.id}.")
        return original_vpc(self, association_id)

    VPCBackend.disassociate_vpc_cidr_block = disassociate_vpc  # type: ignore[method-assign]


def routes_to_gone_gateways_are_blackholes() -> None:
    """A route whose internet or egress-only gateway was deleted (or detached) stays in its
    table as `blackhole` (Amazon VPC user guide, route tables: "the route's target is
    unavailable"; EC2 API reference, Route.State). moto reports every route `active`."""
    from moto.ec2.models.route_tables import Route

    if getattr(getattr(Route.state, "fget", None), "_v6migrate", False):
        return

    def state(route: Any) -> str:
        backend = route.route_table.ec2_backend
        eigw = route.egress_only_igw
        if eigw is not None and eigw.id not in backend.egress_only_internet_gateways:
            return "blackhole"
        gateway = route.gateway
        if gateway is not None and str(gateway.id).startswith("igw-"):
            live = backend.internet_gateways.get(gateway.id)
            if live is None or live.vpc is None:
                return "blackhole"
        return "active"

    state._v6migrate = True  # type: ignore[attr-defined]
    Route.state = property(state)  # type: ignore[assignment,method-assign]


def route_already_exists() -> None:
    """CreateRoute refuses a destination the table already routes: RouteAlreadyExists
    (EC2 API reference, CreateRoute errors). moto replaces IPv6 routes silently."""
    original = _once(RouteBackend, "create_route")
    if original is None:
        return

    def create_route(
        self: Any, route_table_id: str, destination_cidr_block: str | None,
        destination_ipv6_cidr_block: str | None = None, *args: Any, **kwargs: Any,
    ) -> Any:  # fmt: skip
        if destination_ipv6_cidr_block and not kwargs.get("local"):
            table = self.get_route_table(route_table_id)
            wanted = ipaddress.ip_network(destination_ipv6_cidr_block)
            for route in table.routes:
                existing = route.destination_ipv6_cidr_block
                if existing and ipaddress.ip_network(existing) == wanted:
                    raise EC2ClientError(
                        "RouteAlreadyExists",
                        f"The route identified by {destination_ipv6_cidr_block} already exists.",
                    )
        return original(
            self, route_table_id, destination_cidr_block, destination_ipv6_cidr_block,
            *args, **kwargs,
        )  # fmt: skip

    RouteBackend.create_route = _mark(create_route)  # type: ignore[method-assign]


def tgw_attachment_modifying() -> None:
    """ModifyTransitGatewayVpcAttachment puts the attachment in `modifying` before it is
    `available` again (EC2 API reference, TransitGatewayAttachmentState)."""
    original = _once(TransitGatewayAttachmentBackend, "modify_transit_gateway_vpc_attachment")
    if original is None:
        return

    def modify(self: Any, *args: Any, **kwargs: Any) -> Any:
        attachment = original(self, *args, **kwargs)
        attachment.__dict__["_v6_modified"] = CLOCK.now()
        return attachment

    TransitGatewayAttachmentBackend.modify_transit_gateway_vpc_attachment = _mark(modify)  # type: ignore[method-assign]
    state_attribute = TransitGatewayAttachment.__dict__.get("state")

    def state(self: Any) -> str:
        base = self.__dict__.get("_state") or "available"
        if base == "available" and settling(
            self.__dict__.get("_v6_modified"), "tgw-attachment-modifying"
        ):
            return "modifying"
        return str(base)

    def set_state(self: Any, value: str) -> None:
        self.__dict__["_state"] = value

    if not isinstance(state_attribute, property):
        TransitGatewayAttachment.state = property(state, set_state)  # type: ignore[assignment]


__all__ = ["SETTLE"]


def nacl_icmp_needs_type_code() -> None:
    """CreateNetworkAclEntry refuses ICMP without `IcmpTypeCode`.

    EC2 API reference, CreateNetworkAclEntry: IcmpTypeCode is "required if specifying protocol 1
    (ICMP) or protocol 58 (ICMPv6) with an IPv6 CIDR block"; AWS answers `MissingParameter`
    ("The request must contain the parameter icmpTypeCode.type", as seen in
    hashicorp/terraform-provider-aws#6264). moto accepts the entry without it.
    """
    from moto.ec2.models.network_acls import NetworkAclBackend

    original = _once(NetworkAclBackend, "create_network_acl_entry")
    if original is None:
        return

    def create_network_acl_entry(self: Any, *args: Any, **kwargs: Any) -> Any:
        names = (
            "network_acl_id", "rule_number", "protocol", "rule_action", "egress", "cidr_block",
            "icmp_code", "icmp_type", "port_range_from", "port_range_to", "ipv6_cidr_block",
        )  # fmt: skip
        given = {**dict(zip(names, args, strict=False)), **kwargs}
        protocol = str(given.get("protocol", "")).lower()
        icmp = protocol in ("1", "icmp") or (protocol == "58" and given.get("ipv6_cidr_block"))
        if icmp and given.get("icmp_type") in (None, ""):
            raise EC2ClientError(
                "MissingParameter", "The request must contain the parameter icmpTypeCode.type"
            )
        return original(self, *args, **kwargs)

    NetworkAclBackend.create_network_acl_entry = _mark(create_network_acl_entry)  # type: ignore[method-assign]

    # moto's response handler reads the wire name `Icmp.Type`, but its parsed request holds the
    # member name `IcmpTypeCode`: the type and code were dropped. Read either.
    from moto.ec2.responses.network_acls import NetworkACLs

    def _icmp(self: Any, part: str) -> Any:
        found = self._get_param(f"Icmp.{part}")
        if found is None:
            found = (self._get_param("IcmpTypeCode") or {}).get(part)
        return None if found is None else int(found)

    def create_entry_response(self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.ec2_backend.create_network_acl_entry(
            network_acl_id=self._get_param("NetworkAclId"),
            rule_number=self._get_param("RuleNumber"),
            protocol=self._get_param("Protocol"),
            rule_action=self._get_param("RuleAction"),
            egress=self._get_param("Egress"),
            cidr_block=self._get_param("CidrBlock"),
            icmp_code=_icmp(self, "Code"),
            icmp_type=_icmp(self, "Type"),
            port_range_from=self._get_param("PortRange.From"),
            port_range_to=self._get_param("PortRange.To"),
            ipv6_cidr_block=self._get_param("Ipv6CidrBlock"),
        )
        return EmptyResult()

    NetworkACLs.create_network_acl_entry = create_entry_response  # type: ignore[method-assign]


def default_nacl_ipv6_rules() -> None:
    """Amazon VPC user guide, "Default network ACL": when an IPv6 block is associated with the
    VPC, AWS adds rule 101 allowing all IPv6 traffic in and out (before the final IPv6 deny) to
    the default network ACL, unless its rules were modified. moto adds nothing."""
    from moto.ec2.models.vpcs import VPCBackend

    original = VPCBackend.associate_vpc_cidr_block
    if getattr(original, "_v6migrate_nacl", False):
        return

    def associate(self: Any, vpc_id: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = original(self, vpc_id, *args, **kwargs)
        if ":" in str(result.get("ipv6_cidr_block") or result.get("cidr_block") or ""):
            _allow_ipv6_on_default_acl(self, vpc_id)
        return result

    # The same for a VPC made with its IPv6 block (CreateVpc AmazonProvidedIpv6CidrBlock)
    create = VPCBackend.create_vpc

    def create_vpc(self: Any, *args: Any, **kwargs: Any) -> Any:
        vpc = create(self, *args, **kwargs)
        if vpc.get_cidr_block_association_set(ipv6=True):
            _allow_ipv6_on_default_acl(self, vpc.id)
        return vpc

    VPCBackend.create_vpc = create_vpc  # type: ignore[method-assign]
    associate._v6migrate_nacl = True  # type: ignore[attr-defined]
    VPCBackend.associate_vpc_cidr_block = associate  # type: ignore[method-assign]


def _allow_ipv6_on_default_acl(backend: Any, vpc_id: str) -> None:
    for acl in list(backend.network_acls.values()):
        if acl.vpc_id != vpc_id or not acl.default:
            continue
        present = sorted(
            (bool(e.egress), int(e.rule_number), e.rule_action, str(e.protocol), e.cidr_block)
            for e in acl.network_acl_entries
        )
        pristine = [
            (egress, number, action, "-1", "0.0.0.0/0")
            for egress in (False, True)
            for number, action in ((100, "allow"), (32767, "deny"))
        ]
        if present != pristine:
            continue  # modified: AWS leaves a changed default ACL as it is
        for egress in (False, True):
            for number, action in ((101, "allow"), (32768, "deny")):
                backend.create_network_acl_entry(
                    network_acl_id=acl.id, rule_number=number, protocol="-1",
                    rule_action=action, egress=egress, cidr_block=None, icmp_code=None,
                    icmp_type=None, port_range_from=None, port_range_to=None,
                    ipv6_cidr_block="::/0",
                )  # fmt: skip


def without_default_ipv6_rules(acl: dict[str, Any]) -> dict[str, Any]:
    """A described network ACL without the IPv6 rules AWS itself adds to a default ACL with
    the VPC's block (`default_nacl_ipv6_rules`): they stay with a kept /56, and are AWS's, not
    the workflow's (which adds no rule to an unmodified default ACL)."""
    if not acl.get("IsDefault"):
        return acl
    entries = [
        e for e in acl["Entries"]
        if not (e.get("Ipv6CidrBlock") == "::/0" and e["RuleNumber"] in (101, 32768))
    ]  # fmt: skip
    return {**acl, "Entries": entries}
