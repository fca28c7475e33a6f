"""The embedded AWS refuses what AWS refuses, and shows transitional states (local/gaps)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from local.gaps.timing import SETTLE
from tests.unit.conftest import refusal

REGION = "eu-west-1"


@pytest.fixture
def ec2(moto: None) -> Any:
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def slow_transitions() -> Iterator[None]:
    """Transitions that last until the test ends them (`_settle()`): no race with the clock."""
    SETTLE.seconds = 30.0
    yield
    SETTLE.seconds = 0.0


def _settle() -> None:
    """Every transition under way ends now (as if its time had passed)."""
    SETTLE.seconds = 0.0


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _dual_stack_subnet(ec2: Any) -> tuple[str, str, str, str]:
    """A VPC with its /56 and one subnet holding /64 number 0: (vpc, subnet, block, /64)."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="eu-west-1a")[
        "Subnet"
    ]["SubnetId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)
    block = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0][
        "Ipv6CidrBlock"
    ]
    first = block.replace("/56", "/64")
    ec2.associate_subnet_cidr_block(SubnetId=subnet, Ipv6CidrBlock=first)
    return vpc, subnet, block, first


def _association(ec2: Any, subnet: str) -> str:
    return str(
        ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["Ipv6CidrBlockAssociationSet"][0][
            "AssociationId"
        ]
    )


def test_associations_pass_through_associating(ec2: Any, slow_transitions: None) -> None:
    # DOMAIN.md, EC2 step 1: the response says associating; poll until associated
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)
    state = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0][
        "Ipv6CidrBlockState"
    ]["State"]
    assert state == "associating"
    _settle()
    state = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0][
        "Ipv6CidrBlockState"
    ]["State"]
    assert state == "associated"


def test_auto_assign_before_the_block_is_associated_is_refused(
    ec2: Any, slow_transitions: None
) -> None:
    # DOMAIN.md, EC2 step 3: InvalidParameterValue before the subnet CIDR is associated
    _, subnet, _, _ = _dual_stack_subnet(ec2)
    with pytest.raises(ClientError) as error:
        ec2.modify_subnet_attribute(SubnetId=subnet, AssignIpv6AddressOnCreation={"Value": True})
    assert _code(error) == "InvalidParameterValue"
    _settle()
    ec2.modify_subnet_attribute(SubnetId=subnet, AssignIpv6AddressOnCreation={"Value": True})


def test_a_64_outside_the_vpc_block_is_refused(ec2: Any) -> None:
    vpc, _, _, _ = _dual_stack_subnet(ec2)
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as error:
        ec2.associate_subnet_cidr_block(SubnetId=other, Ipv6CidrBlock="2001:db8::/64")
    assert _code(error) == "InvalidSubnet.Range"


def test_a_64_another_subnet_holds_is_refused(ec2: Any) -> None:
    vpc, _, _, first = _dual_stack_subnet(ec2)
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as error:
        ec2.associate_subnet_cidr_block(SubnetId=other, Ipv6CidrBlock=first)
    assert _code(error) == "InvalidSubnet.Conflict"


def test_a_second_block_on_a_subnet_or_a_non_64_is_refused(ec2: Any) -> None:
    _, subnet, block, _ = _dual_stack_subnet(ec2)
    second = block.replace("00::/56", "01::/64")
    with pytest.raises(ClientError) as error:
        ec2.associate_subnet_cidr_block(SubnetId=subnet, Ipv6CidrBlock=second)
    assert _code(error) == "InvalidParameterValue"


def test_subnet_block_in_use_by_an_eni_cannot_be_released(ec2: Any) -> None:
    # DOMAIN.md, Rollback: InvalidCidrBlock.InUse while ENIs hold addresses from it
    _, subnet, _, _ = _dual_stack_subnet(ec2)
    ec2.create_network_interface(SubnetId=subnet, Ipv6AddressCount=1)
    with pytest.raises(ClientError) as error:
        ec2.disassociate_subnet_cidr_block(AssociationId=_association(ec2, subnet))
    assert _code(error) == "InvalidCidrBlock.InUse"


def test_subnet_block_cannot_be_released_while_auto_assign_is_on(ec2: Any) -> None:
    _, subnet, _, _ = _dual_stack_subnet(ec2)
    ec2.modify_subnet_attribute(SubnetId=subnet, AssignIpv6AddressOnCreation={"Value": True})
    with pytest.raises(ClientError) as error:
        ec2.disassociate_subnet_cidr_block(AssociationId=_association(ec2, subnet))
    assert _code(error) == "InvalidCidrBlock.InUse"
    ec2.modify_subnet_attribute(SubnetId=subnet, AssignIpv6AddressOnCreation={"Value": False})
    ec2.disassociate_subnet_cidr_block(AssociationId=_association(ec2, subnet))


def test_vpc_block_cannot_be_released_while_a_subnet_holds_a_64(ec2: Any) -> None:
    vpc, _, _, _ = _dual_stack_subnet(ec2)
    association = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0][
        "AssociationId"
    ]
    with pytest.raises(ClientError) as error:
        ec2.disassociate_vpc_cidr_block(AssociationId=association)
    assert _code(error) == "InvalidCidrBlock.InUse"


def test_a_route_to_an_existing_destination_is_refused(ec2: Any) -> None:
    vpc, _, _, _ = _dual_stack_subnet(ec2)
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    gateway = ec2.create_egress_only_internet_gateway(VpcId=vpc)["EgressOnlyInternetGateway"][
        "EgressOnlyInternetGatewayId"
    ]
    ec2.create_route(RouteTableId=table, DestinationIpv6CidrBlock="::/0",
                     EgressOnlyInternetGatewayId=gateway)  # fmt: skip
    with pytest.raises(ClientError) as error:
        ec2.create_route(RouteTableId=table, DestinationIpv6CidrBlock="::/0",
                         EgressOnlyInternetGatewayId=gateway)  # fmt: skip
    assert _code(error) == "RouteAlreadyExists"


def test_tgw_attachment_is_modifying_then_available(ec2: Any, slow_transitions: None) -> None:
    vpc, subnet, _, _ = _dual_stack_subnet(ec2)
    tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    attachment = ec2.create_transit_gateway_vpc_attachment(
        TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[subnet]
    )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
    ec2.modify_transit_gateway_vpc_attachment(
        TransitGatewayAttachmentId=attachment, Options={"Ipv6Support": "enable"}
    )

    def state() -> str:
        return str(
            ec2.describe_transit_gateway_vpc_attachments(TransitGatewayAttachmentIds=[attachment])[
                "TransitGatewayVpcAttachments"
            ][0]["State"]
        )

    assert state() == "modifying"
    _settle()
    assert state() == "available"


def test_cloud_wan_update_is_updating_then_available(moto: None, slow_transitions: None) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    manager = boto3.client("networkmanager", region_name="us-west-2")
    network = manager.create_global_network()["GlobalNetwork"]["GlobalNetworkId"]
    core = manager.create_core_network(GlobalNetworkId=network)["CoreNetwork"]["CoreNetworkId"]
    arn = "arn:aws:ec2:eu-west-1:123456789012"
    attachment = manager.create_vpc_attachment(
        CoreNetworkId=core, VpcArn=f"{arn}:vpc/{vpc}", SubnetArns=[f"{arn}:subnet/subnet-1"]
    )["VpcAttachment"]["Attachment"]["AttachmentId"]
    manager.update_vpc_attachment(AttachmentId=attachment, Options={"Ipv6Support": True})
    got = manager.get_vpc_attachment(AttachmentId=attachment)["VpcAttachment"]
    assert got["Attachment"]["State"] == "UPDATING"
    _settle()
    got = manager.get_vpc_attachment(AttachmentId=attachment)["VpcAttachment"]
    assert (got["Attachment"]["State"], got["Options"]["Ipv6Support"]) == ("AVAILABLE", True)


def test_interface_endpoint_goes_dualstack_only_with_ipv6_subnets(ec2: Any) -> None:
    # EC2 API reference, ModifyVpcEndpoint IpAddressType; DOMAIN.md, Interconnects (PrivateLink)
    vpc, subnet, _, _ = _dual_stack_subnet(ec2)
    bare = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    ready = ec2.create_vpc_endpoint(
        VpcId=vpc, VpcEndpointType="Interface", SubnetIds=[subnet],
        ServiceName="com.amazonaws.eu-west-1.sts",
    )["VpcEndpoint"]  # fmt: skip
    not_ready = ec2.create_vpc_endpoint(
        VpcId=vpc, VpcEndpointType="Interface", SubnetIds=[bare],
        ServiceName="com.amazonaws.eu-west-1.sqs",
    )["VpcEndpoint"]  # fmt: skip
    with pytest.raises(ClientError) as error:
        ec2.modify_vpc_endpoint(VpcEndpointId=not_ready["VpcEndpointId"], IpAddressType="dualstack")
    assert _code(error) == "InvalidParameter"
    ec2.modify_vpc_endpoint(VpcEndpointId=ready["VpcEndpointId"], IpAddressType="dualstack")
    described = ec2.describe_vpc_endpoints(VpcEndpointIds=[ready["VpcEndpointId"]])
    assert described["VpcEndpoints"][0]["IpAddressType"] == "dualstack"


def test_endpoint_service_supported_ip_address_types_change(ec2: Any) -> None:
    _, subnet, _, _ = _dual_stack_subnet(ec2)
    nlb = boto3.client("elbv2", region_name=REGION).create_load_balancer(
        Name="api", Subnets=[subnet], Scheme="internal", Type="network"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    service = ec2.create_vpc_endpoint_service_configuration(NetworkLoadBalancerArns=[nlb])[
        "ServiceConfiguration"
    ]["ServiceId"]
    ec2.modify_vpc_endpoint_service_configuration(
        ServiceId=service, AddSupportedIpAddressTypes=["ipv6"]
    )

    def types() -> list[str]:
        config = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[service])
        return list(config["ServiceConfigurations"][0]["SupportedIpAddressTypes"])

    assert types() == ["ipv4", "ipv6"]
    ec2.modify_vpc_endpoint_service_configuration(
        ServiceId=service, RemoveSupportedIpAddressTypes=["ipv6"]
    )
    assert types() == ["ipv4"]


def test_a_vpc_block_comes_from_an_ipam_pool_with_the_netmask_asked(ec2: Any) -> None:
    # EC2 API reference, AssociateVpcCidrBlock Ipv6IpamPoolId + Ipv6NetmaskLength
    ec2.create_ipam()
    pool = ec2.create_ipam_pool(IpamScopeId="ipam-scope-1", AddressFamily="ipv6")["IpamPool"][
        "IpamPoolId"
    ]
    ec2.provision_ipam_pool_cidr(IpamPoolId=pool, Cidr="2600:1f18:4000::/44")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    first = ec2.associate_vpc_cidr_block(VpcId=vpc, Ipv6IpamPoolId=pool, Ipv6NetmaskLength=52)
    second = ec2.associate_vpc_cidr_block(VpcId=other, Ipv6IpamPoolId=pool, Ipv6NetmaskLength=52)
    blocks = [r["Ipv6CidrBlockAssociation"]["Ipv6CidrBlock"] for r in (first, second)]
    assert blocks == ["2600:1f18:4000::/52", "2600:1f18:4000:1000::/52"]
    assert first["Ipv6CidrBlockAssociation"]["Ipv6Pool"] == pool
    described = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]
    assert described["Ipv6CidrBlock"] == blocks[0]


def test_a_route_to_a_deleted_egress_only_gateway_is_a_blackhole_the_planner_blocks_on(
    target: Any, small_estate: dict[str, Any]
) -> None:
    from v6migrate.discover import discover
    from v6migrate.models import PlanOptions
    from v6migrate.plan import plan

    # Given a private table's ::/0 to an egress-only gateway that is then deleted (Amazon VPC
    # user guide, route tables: a route whose target is gone shows as `blackhole`)
    vpc = small_estate["vpc_id"]
    gateway = target.ec2.create_egress_only_internet_gateway(VpcId=vpc)
    gone = gateway["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
    tables = target.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    table = next(
        t["RouteTableId"]
        for t in tables["RouteTables"]
        if any(r.get("NatGatewayId") for r in t["Routes"])
    )
    target.ec2.create_route(
        RouteTableId=table, DestinationIpv6CidrBlock="::/0", EgressOnlyInternetGatewayId=gone
    )
    target.ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=gone)
    # When the table is described, and the estate planned
    routes = target.ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
    [route] = [r for r in routes if r.get("DestinationIpv6CidrBlock") == "::/0"]
    found = plan(discover(target, small_estate["cluster"]), PlanOptions())
    # Then the route is a blackhole, and the plan blocks on it
    assert route["State"] == "blackhole"
    assert ("ipv6-default-route-blackhole", table) in {
        (f.code, f.resource) for f in found.findings if f.severity == "blocker"
    }


def test_a_64_with_host_bits_set_is_refused_on_association_and_on_creation(ec2: Any) -> None:
    # EC2 API reference, AssociateSubnetCidrBlock and CreateSubnet (Ipv6CidrBlock): a /64 of the
    # VPC's block; an address with host bits set is not a network (InvalidParameterValue, 400),
    # whichever call carries it
    vpc, _, block, first = _dual_stack_subnet(ec2)
    second = ipaddress.ip_network(block).subnets(new_prefix=64)
    next(second)
    free = next(second)
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    with_host_bits = f"{free.network_address + 1}/64"
    assert refusal(
        ec2.associate_subnet_cidr_block, SubnetId=other, Ipv6CidrBlock=with_host_bits
    ) == ("InvalidParameterValue", 400)
    assert refusal(
        ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.3.0/24", Ipv6CidrBlock=with_host_bits
    ) == ("InvalidParameterValue", 400)
    # and CreateSubnet holds every check AssociateSubnetCidrBlock does: a /64, inside the
    # VPC's block (InvalidSubnet.Range), not another subnet's (InvalidSubnet.Conflict)
    assert refusal(
        ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.3.0/24", Ipv6CidrBlock=f"{free}".replace(
            "/64", "/80")
    )[0] == "InvalidParameterValue"  # fmt: skip
    assert refusal(
        ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.3.0/24", Ipv6CidrBlock="2001:db8::/64"
    ) == ("InvalidSubnet.Range", 400)
    assert refusal(ec2.create_subnet, VpcId=vpc, CidrBlock="10.0.3.0/24", Ipv6CidrBlock=first) == (
        "InvalidSubnet.Conflict",
        400,
    )
    made = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.3.0/24", Ipv6CidrBlock=str(free))
    assert made["Subnet"]["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"] == str(free)
