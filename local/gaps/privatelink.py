"""PrivateLink IP address types, which moto 5.2.5 ignores.

EC2 API reference: ModifyVpcEndpoint(IpAddressType=ipv4|dualstack|ipv6) and
ModifyVpcEndpointServiceConfiguration(Add/RemoveSupportedIpAddressTypes); DescribeVpcEndpoints
reports `IpAddressType`, DescribeVpcEndpointServiceConfigurations `SupportedIpAddressTypes`.
A consumer endpoint can only be dual-stack once its service supports IPv6 and its subnets have
IPv6 (InvalidParameter otherwise; UNCONFIRMED code).
"""

from __future__ import annotations

from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.vpc_service_configuration import VPCServiceConfiguration
from moto.ec2.models.vpcs import VPCEndPoint
from moto.ec2.responses.vpc_service_configuration import VPCEndpointServiceConfiguration
from moto.ec2.responses.vpcs import VPCs


def _types(config: Any) -> list[str]:
    types: list[str] = config.__dict__.setdefault("_v6_ip_types", ["ipv4"])
    return types


def ip_address_types() -> None:
    if isinstance(VPCEndPoint.__dict__.get("ip_address_type"), property):
        return
    VPCEndPoint.ip_address_type = property(  # type: ignore[attr-defined]
        lambda self: self.__dict__.get("_v6_ip_type", "ipv4")
    )
    VPCServiceConfiguration.supported_ip_address_types = property(_types)  # type: ignore[attr-defined]

    original_endpoint = VPCs.modify_vpc_endpoint

    def modify_vpc_endpoint(self: Any) -> Any:
        wanted = self._get_param("IpAddressType")
        if wanted:
            endpoint = self.ec2_backend.describe_vpc_endpoints(
                vpc_end_point_ids=[self._get_param("VpcEndpointId")]
            )[0]
            if wanted in ("dualstack", "ipv6"):
                for subnet_id in endpoint.subnet_ids or []:
                    subnet = self.ec2_backend.get_subnet(subnet_id)
                    if not subnet.ipv6_cidr_block_associations:
                        raise EC2ClientError(
                            "InvalidParameter", f"Subnet {subnet_id} has no IPv6 CIDR block."
                        )
            endpoint.__dict__["_v6_ip_type"] = wanted
        return original_endpoint(self)

    VPCs.modify_vpc_endpoint = modify_vpc_endpoint  # type: ignore[method-assign]

    original_service = VPCEndpointServiceConfiguration.modify_vpc_endpoint_service_configuration

    def modify_service(self: Any) -> Any:
        service_id = self._get_param("ServiceId")
        config = self.ec2_backend.describe_vpc_endpoint_service_configurations([service_id])[0]
        types = _types(config)
        for added in self._get_param("AddSupportedIpAddressTypes", []) or []:
            if added not in types:
                types.append(added)
        for removed in self._get_param("RemoveSupportedIpAddressTypes", []) or []:
            if removed in types and len(types) > 1:
                types.remove(removed)
        return original_service(self)

    VPCEndpointServiceConfiguration.modify_vpc_endpoint_service_configuration = modify_service  # type: ignore[method-assign]
