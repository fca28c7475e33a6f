"""EC2 gaps of moto 5.2.5."""

from __future__ import annotations

from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
from moto.ec2.models.vpc_peering_connections import VPCPeeringConnection
from moto.ec2.models.vpcs import VPC
from moto.ec2.responses.vpc_peering_connections import VPCPeeringConnections


def _state_of(association: dict[str, Any]) -> str:
    raw = association.get("ipv6CidrBlockState")
    if isinstance(raw, dict):
        return str(raw.get("State") or raw.get("state") or "")
    return str(raw or "")


def _live_ipv6_block(subnet: Any) -> str | None:
    for association in subnet.ipv6_cidr_block_associations.values():
        if _state_of(association) == "associated":
            return str(association["ipv6CidrBlock"])
    return None


def ipv6_on_network_interface_creation() -> None:
    """A network interface created in a subnet with `AssignIpv6AddressOnCreation` gets an IPv6;
    an instance's primary interface goes with the instance.

    EC2 API reference, ModifySubnetAttribute: "network interfaces created in the specified
    subnet should be assigned an IPv6 address". moto ignores the attribute, so instances
    launched there (nodes included) have no IPv6 on their primary ENI.
    """
    original = NetworkInterfaceBackend.create_network_interface
    if getattr(original, "_v6migrate", False):
        return

    def create_network_interface(
        self: Any, subnet: Any, private_ip_address: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if kwargs.get("device_index") == 0:
            # EC2 user guide, network interfaces: the primary interface made at launch is
            # deleted with its instance (DeleteOnTermination true); moto keeps it.
            kwargs["delete_on_termination"] = True
        wants_ipv6 = str(getattr(subnet, "assign_ipv6_address_on_creation", False)).lower()
        if (
            wants_ipv6 == "true"
            and _live_ipv6_block(subnet)
            and not kwargs.get("ipv6_addresses")
            and not kwargs.get("ipv6_address_count")
        ):
            kwargs["ipv6_address_count"] = 1
        elif (kwargs.get("ipv6_address_count") or kwargs.get("ipv6_addresses")) and not (
            _live_ipv6_block(subnet)
        ):
            # An IPv6 address asked for in a subnet without a /64: refused (EC2 API reference,
            # CreateNetworkInterface, Ipv6AddressCount "from the IPv6 CIDR block range of your
            # subnet"; the code is UNCONFIRMED). moto silently gives none.
            raise EC2ClientError(
                "InvalidParameterValue",
                f"The subnet {subnet.id} has no IPv6 CIDR block to assign IPv6 addresses from.",
            )
        return original(self, subnet, private_ip_address, *args, **kwargs)

    create_network_interface._v6migrate = True  # type: ignore[attr-defined]
    NetworkInterfaceBackend.create_network_interface = create_network_interface  # type: ignore[method-assign]


def _ipv6_block_set(vpc: VPC) -> list[dict[str, str]]:
    return [
        {"Ipv6CidrBlock": block["cidr_block"]}
        for block in vpc.get_cidr_block_association_set(ipv6=True)
        if block.get("cidr_block_state", {}).get("state") == "associated"
    ]


_PEERING_FILTERS = {
    "requester-vpc-info.vpc-id": lambda p: p.vpc.id,
    "requester-vpc-info.owner-id": lambda p: p.vpc.owner_id,
    "accepter-vpc-info.vpc-id": lambda p: p.peer_vpc.id,
    "accepter-vpc-info.owner-id": lambda p: p.peer_vpc.owner_id,
    "status-code": lambda p: p._status.code,
    "vpc-peering-connection-id": lambda p: p.id,
}


def peering_ipv6_and_filters() -> None:
    """DescribeVpcPeeringConnections: `Ipv6CidrBlockSet` on each side, and `Filters` honoured.

    EC2 API reference, VpcPeeringConnectionVpcInfo.Ipv6CidrBlockSet lists the IPv6 blocks of
    each VPC; moto omits it. moto also ignores `Filters` and returns every peering, where AWS
    filters by `requester-vpc-info.vpc-id`, `accepter-vpc-info.vpc-id` and others.
    """
    requester = VPCPeeringConnection.requester_vpc_info.fget  # type: ignore[attr-defined]
    accepter = VPCPeeringConnection.accepter_vpc_info.fget  # type: ignore[attr-defined]
    if getattr(requester, "_v6migrate", False):
        return

    def requester_vpc_info(self: VPCPeeringConnection) -> dict[str, Any]:
        return {**requester(self), "Ipv6CidrBlockSet": _ipv6_block_set(self.vpc)}

    def accepter_vpc_info(self: VPCPeeringConnection) -> dict[str, Any]:
        return {**accepter(self), "Ipv6CidrBlockSet": _ipv6_block_set(self.peer_vpc)}

    requester_vpc_info._v6migrate = True  # type: ignore[attr-defined]
    VPCPeeringConnection.requester_vpc_info = property(requester_vpc_info)  # type: ignore[method-assign,assignment]
    VPCPeeringConnection.accepter_vpc_info = property(accepter_vpc_info)  # type: ignore[method-assign,assignment]

    original = VPCPeeringConnections.describe_vpc_peering_connections

    def describe_vpc_peering_connections(self: Any) -> Any:
        result = original(self)
        filters = self._filters_from_querystring()
        if not filters:
            return result
        body: dict[str, Any] = result.result  # type: ignore[assignment]
        peerings = body["VpcPeeringConnections"]
        for name, values in filters.items():
            getter = _PEERING_FILTERS.get(name)
            if getter is None:
                continue
            peerings = [p for p in peerings if str(getter(p)) in values]
        body["VpcPeeringConnections"] = peerings
        return result

    VPCPeeringConnections.describe_vpc_peering_connections = describe_vpc_peering_connections  # type: ignore[method-assign]


def launch_template_source_version() -> None:
    """CreateLaunchTemplateVersion with `SourceVersion` inherits the source version's data.

    EC2 API reference, CreateLaunchTemplateVersion: "the new version inherits the same launch
    parameters as the source version, except for parameters that you specify in
    LaunchTemplateData"; an unknown source version is `InvalidLaunchTemplateId.VersionNotFound`.
    moto ignores `SourceVersion`: the new version holds only the given data (no image, no
    instance type, no user data).
    """
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.responses.launch_templates import LaunchTemplates
    from moto.ec2.utils import parse_user_data

    original = LaunchTemplates.create_launch_template_version
    if getattr(original, "_v6migrate", False):
        return

    def create_launch_template_version(self: Any) -> ActionResult:
        source = self._get_param("SourceVersion")
        given = dict(self._get_param("LaunchTemplateData", {}) or {})
        if "UserData" in given:
            # moto keeps a new version's user data as text, which its Auto Scaling groups
            # then refuse to launch from: keep it as CreateLaunchTemplate does.
            given["UserData"] = parse_user_data(given["UserData"])
        name, template_id = (
            self._get_param("LaunchTemplateName"),
            self._get_param("LaunchTemplateId"),
        )
        template = (
            self.ec2_backend.get_launch_template(template_id)
            if template_id
            else self.ec2_backend.get_launch_template_by_name(name)
        )
        if source is None:
            version = template.create_version(given, self._get_param("VersionDescription"))
            return _version_result(self, template, version)
        number = (
            template.default_version_number if str(source) == "$Default"
            else template.latest_version_number if str(source) == "$Latest"
            else int(source)
        )  # fmt: skip
        found = next((v for v in template.versions if v.number == number), None)
        if found is None:
            raise EC2ClientError(
                "InvalidLaunchTemplateId.VersionNotFound",
                f"Could not find launch template version {source} of {template.id}.",
            )
        data = {k: v for k, v in {**dict(found.data or {}), **given}.items() if v is not None}
        version = template.create_version(data, self._get_param("VersionDescription"))
        return _version_result(self, template, version)

    def _version_result(self: Any, template: Any, version: Any) -> ActionResult:
        return ActionResult(
            {
                "LaunchTemplateVersion": {
                    "CreateTime": version.create_time,
                    "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                    "DefaultVersion": template.is_default(version),
                    "LaunchTemplateData": version.data,
                    "LaunchTemplateId": template.id,
                    "LaunchTemplateName": template.name,
                    "VersionDescription": version.description,
                    "VersionNumber": version.number,
                }
            }
        )

    create_launch_template_version._v6migrate = True  # type: ignore[attr-defined]
    LaunchTemplates.create_launch_template_version = create_launch_template_version  # type: ignore[method-assign]
