"""The embedded AWS's extensions behave as AWS documents (local/gaps). One test per gap.

When moto gains a gap, its test here must still pass against plain moto before the gap's
function is deleted.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

REGION = "eu-west-1"


@pytest.fixture
def ec2(moto: None) -> Any:
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def eks(moto: None) -> Any:
    return boto3.client("eks", region_name=REGION)


def _vpc_with_subnet(ec2: Any, ipv6: bool = True) -> tuple[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="eu-west-1a")[
        "Subnet"
    ]["SubnetId"]
    if ipv6:
        ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)
        block = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0][
            "Ipv6CidrBlock"
        ]
        ec2.associate_subnet_cidr_block(SubnetId=subnet, Ipv6CidrBlock=block.replace("/56", "/64"))
    return vpc, subnet


def _cluster(eks: Any, subnet: str, name: str = "c1") -> dict[str, Any]:
    return eks.create_cluster(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": [subnet]},
    )["cluster"]


def test_describe_subnets_reports_the_association_state_as_a_plain_string(ec2: Any) -> None:
    # EC2 API reference, SubnetCidrBlockState.State: "associating | associated | ..."
    _, subnet = _vpc_with_subnet(ec2)
    association = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0][
        "Ipv6CidrBlockAssociationSet"
    ][0]
    assert association["Ipv6CidrBlockState"]["State"] == "associated"


def test_instances_in_an_auto_assign_subnet_get_a_global_ipv6_on_the_primary_eni(ec2: Any) -> None:
    # DOMAIN.md, Nodes: new nodes get IPv6 through the subnet's AssignIpv6AddressOnCreation
    _, subnet = _vpc_with_subnet(ec2)
    ec2.modify_subnet_attribute(SubnetId=subnet, AssignIpv6AddressOnCreation={"Value": True})
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)[
        "Instances"
    ][0]
    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0][
        "Instances"
    ][0]
    primary = described["NetworkInterfaces"][0]
    [address] = [a["Ipv6Address"] for a in primary["Ipv6Addresses"]]
    block = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["Ipv6CidrBlockAssociationSet"][
        0
    ]["Ipv6CidrBlock"]
    # compare as addresses: moto writes hextets with leading zeros, addresses come compressed
    assert ipaddress.ip_address(address) in ipaddress.ip_network(block)


def test_instances_in_a_subnet_without_auto_assign_get_no_ipv6(ec2: Any) -> None:
    _, subnet = _vpc_with_subnet(ec2)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)[
        "Instances"
    ][0]
    assert instance["NetworkInterfaces"][0].get("Ipv6Addresses", []) == []


def test_describe_cluster_reports_its_vpc_and_cluster_security_group(ec2: Any, eks: Any) -> None:
    # EKS API reference, VpcConfigResponse.vpcId and clusterSecurityGroupId
    vpc, subnet = _vpc_with_subnet(ec2, ipv6=False)
    _cluster(eks, subnet)
    config = eks.describe_cluster(name="c1")["cluster"]["resourcesVpcConfig"]
    assert config["vpcId"] == vpc
    group = ec2.describe_security_groups(GroupIds=[config["clusterSecurityGroupId"]])[
        "SecurityGroups"
    ][0]
    assert group["VpcId"] == vpc
    assert {"Key": "aws:eks:cluster-name", "Value": "c1"} in group["Tags"]
    egress = [r["CidrIp"] for p in group["IpPermissionsEgress"] for r in p.get("IpRanges", [])]
    assert egress == ["0.0.0.0/0"]  # an IPv4 cluster's SG only allows IPv4 out (DOMAIN.md)


def test_addons_are_created_described_and_listed(ec2: Any, eks: Any) -> None:
    _, subnet = _vpc_with_subnet(ec2, ipv6=False)
    _cluster(eks, subnet)
    values = json.dumps({"env": {"WARM_IP_TARGET": "5"}})
    eks.create_addon(
        clusterName="c1", addonName="vpc-cni", addonVersion="v1.18.3-eksbuild.1",
        configurationValues=values,
    )  # fmt: skip
    addon = eks.describe_addon(clusterName="c1", addonName="vpc-cni")["addon"]
    assert (addon["addonVersion"], addon["status"]) == ("v1.18.3-eksbuild.1", "ACTIVE")
    assert addon["configurationValues"] == values
    assert eks.list_addons(clusterName="c1")["addons"] == ["vpc-cni"]


def test_missing_addon_is_resource_not_found(ec2: Any, eks: Any) -> None:
    _, subnet = _vpc_with_subnet(ec2, ipv6=False)
    _cluster(eks, subnet)
    with pytest.raises(ClientError) as error:
        eks.describe_addon(clusterName="c1", addonName="vpc-cni")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_vpc_cni_schema_has_env_and_init_env_with_v6_egress_from_1_13(eks: Any) -> None:
    # DOMAIN.md, VPC CNI: ENABLE_V6_EGRESS from v1.13.0, in both containers
    schema = json.loads(
        eks.describe_addon_configuration(addonName="vpc-cni", addonVersion="v1.18.3-eksbuild.1")[
            "configurationSchema"
        ]
    )
    assert "ENABLE_V6_EGRESS" in schema["properties"]["env"]["properties"]
    assert "ENABLE_V6_EGRESS" in schema["properties"]["init"]["properties"]["env"]["properties"]
    old = json.loads(
        eks.describe_addon_configuration(addonName="vpc-cni", addonVersion="v1.12.6-eksbuild.2")[
            "configurationSchema"
        ]
    )
    assert "ENABLE_V6_EGRESS" not in old["properties"]["env"]["properties"]


def test_configuration_outside_the_schema_is_refused(ec2: Any, eks: Any) -> None:
    _, subnet = _vpc_with_subnet(ec2, ipv6=False)
    _cluster(eks, subnet)
    with pytest.raises(ClientError) as error:
        eks.create_addon(
            clusterName="c1", addonName="vpc-cni", addonVersion="v1.12.6-eksbuild.2",
            configurationValues=json.dumps({"env": {"ENABLE_V6_EGRESS": "true"}}),
        )  # fmt: skip
    assert error.value.response["Error"]["Code"] == "InvalidParameterException"


def test_addon_versions_are_listed_newest_first(eks: Any) -> None:
    [info] = eks.describe_addon_versions(addonName="vpc-cni")["addons"]
    versions = [v["addonVersion"] for v in info["addonVersions"]]
    assert versions[0] == "v1.19.2-eksbuild.1"
    assert "v1.12.6-eksbuild.2" in versions


def test_managed_nodegroup_owns_an_autoscaling_group_with_tagged_instances(
    ec2: Any, eks: Any
) -> None:
    # EKS API reference, NodegroupResources.autoScalingGroups
    _, subnet = _vpc_with_subnet(ec2, ipv6=False)
    _cluster(eks, subnet)
    eks.create_nodegroup(
        clusterName="c1", nodegroupName="ng", nodeRole="arn:aws:iam::123456789012:role/node",
        subnets=[subnet], scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 2},
    )  # fmt: skip
    [asg] = eks.describe_nodegroup(clusterName="c1", nodegroupName="ng")["nodegroup"]["resources"][
        "autoScalingGroups"
    ]
    group = boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups(
        AutoScalingGroupNames=[asg["name"]]
    )["AutoScalingGroups"][0]
    assert len(group["Instances"]) == 2
    reservations = ec2.describe_instances(
        Filters=[{"Name": "tag:eks:nodegroup-name", "Values": ["ng"]}]
    )["Reservations"]
    assert sum(len(r["Instances"]) for r in reservations) == 2


def test_peering_reports_ipv6_blocks_and_honours_filters(ec2: Any) -> None:
    # EC2 API reference, VpcPeeringConnectionVpcInfo.Ipv6CidrBlockSet; Filters
    vpc_a, _ = _vpc_with_subnet(ec2, ipv6=True)
    vpc_b = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    vpc_c = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc_a, PeerVpcId=vpc_b)["VpcPeeringConnection"]
    ec2.create_vpc_peering_connection(VpcId=vpc_c, PeerVpcId=vpc_b)
    found = ec2.describe_vpc_peering_connections(
        Filters=[{"Name": "requester-vpc-info.vpc-id", "Values": [vpc_a]}]
    )["VpcPeeringConnections"]
    assert [p["VpcPeeringConnectionId"] for p in found] == [pcx["VpcPeeringConnectionId"]]
    assert found[0]["RequesterVpcInfo"]["Ipv6CidrBlockSet"][0]["Ipv6CidrBlock"].endswith("/56")
    assert found[0]["AccepterVpcInfo"].get("Ipv6CidrBlockSet", []) == []


def test_cloud_wan_vpc_attachments_are_created_read_and_listed(ec2: Any) -> None:
    # Network Manager API reference: VpcAttachment, VpcOptions.Ipv6Support
    vpc, subnet = _vpc_with_subnet(ec2, ipv6=False)
    manager = boto3.client("networkmanager", region_name="us-west-2")
    network = manager.create_global_network()["GlobalNetwork"]["GlobalNetworkId"]
    core = manager.create_core_network(GlobalNetworkId=network)["CoreNetwork"]["CoreNetworkId"]
    arn = "arn:aws:ec2:eu-west-1:123456789012"
    created = manager.create_vpc_attachment(
        CoreNetworkId=core, VpcArn=f"{arn}:vpc/{vpc}", SubnetArns=[f"{arn}:subnet/{subnet}"]
    )["VpcAttachment"]
    attachment_id = created["Attachment"]["AttachmentId"]
    got = manager.get_vpc_attachment(AttachmentId=attachment_id)["VpcAttachment"]
    assert got["Options"]["Ipv6Support"] is False
    listed = manager.list_attachments(AttachmentType="VPC")["Attachments"]
    assert [a["AttachmentId"] for a in listed] == [attachment_id]
    with pytest.raises(ClientError) as error:
        manager.get_vpc_attachment(AttachmentId="attachment-00000000000000000")
    assert error.value.response["Error"]["Code"] == "NotFoundException"


def test_execution_history_reads_newest_first_when_asked(moto: None) -> None:
    # Step Functions API reference, GetExecutionHistory: `reverseOrder` "Lists events in
    # descending order of their timeStamp" (moto ignored it)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="m", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]  # fmt: skip
    execution = sfn.start_execution(stateMachineArn=machine, name="e")["executionArn"]
    oldest = sfn.get_execution_history(executionArn=execution)["events"]
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True)["events"]
    assert len(oldest) > 1
    assert [e["id"] for e in newest] == [e["id"] for e in reversed(oldest)]
    assert oldest[0]["type"] == "ExecutionStarted"


def test_a_federated_users_id_token_names_its_identities_which_nobody_can_write(
    moto: None,
) -> None:
    # Cognito developer guide, the ID token: a federated user's `identities` claim (an array:
    # provider, user id); the attribute it comes from is Cognito's own, no app client writes it
    from joserfc import jwt

    from local.federation import signed_in

    idp = boto3.client("cognito-idp", region_name=REGION)
    pool = idp.create_user_pool(PoolName="p")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="c", ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"]
    )["UserPoolClient"]["ClientId"]
    tokens = signed_in(boto3.Session(region_name=REGION), pool, client, "EntraID", "oid-1")
    claims = jwt.decode(tokens["IdToken"], _cognito_public_key()).claims
    assert [(i["providerName"], i["userId"]) for i in claims["identities"]] == [
        ("EntraID", "oid-1"),
    ]  # fmt: skip
    forged = [{"Name": "identities", "Value": json.dumps([{"userId": "someone-else"}])}]
    with pytest.raises(ClientError, match="InvalidParameterException"):
        idp.update_user_attributes(AccessToken=tokens["AccessToken"], UserAttributes=forged)
    with pytest.raises(ClientError, match="InvalidParameterException"):
        idp.admin_update_user_attributes(
            UserPoolId=pool, Username="EntraID_oid-1", UserAttributes=forged
        )


def _cognito_public_key() -> Any:
    import gzip
    from importlib import resources

    from joserfc import jwk

    raw = resources.files("moto.cognitoidp").joinpath("resources/jwks-public.json.gz")
    return jwk.KeySet.import_key_set(json.loads(gzip.decompress(raw.read_bytes())))
