"""The embedded AWS's long operations: add-on updates, node group rollouts, instance refreshes.

DOMAIN.md, Nodes and VPC CNI; EKS API reference (UpdateAddon, UpdateNodegroupVersion,
DescribeUpdate); Auto Scaling API reference (StartInstanceRefresh, DescribeInstanceRefreshes).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.gaps.rollouts import ADDON_UPDATE_SECONDS, FAIL_TAG, SECONDS_PER_NODE
from local.gaps.timing import CLOCK, NODE_READY_SECONDS
from tests.unit.conftest import refusal

CLUSTER = "orders-prod"


def _node_ipv6(ec2: Any, asg: Any, name: str) -> list[bool]:
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in group["Instances"]]
    if not ids:
        return []
    found = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return [
        bool(i["NetworkInterfaces"][0].get("Ipv6Addresses"))
        for r in found
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    ]


def _dual_stack_subnets(ec2: Any, vpc_id: str) -> None:
    """What the vpc stage does, directly: a /56, a /64 per subnet, auto-assign on."""
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, AmazonProvidedIpv6CidrBlock=True)
    block = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]
    import ipaddress

    nets = ipaddress.ip_network(block["Ipv6CidrBlock"]).subnets(new_prefix=64)
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        ec2.associate_subnet_cidr_block(SubnetId=subnet["SubnetId"], Ipv6CidrBlock=str(next(nets)))
        ec2.modify_subnet_attribute(
            SubnetId=subnet["SubnetId"], AssignIpv6AddressOnCreation={"Value": True}
        )


def test_addon_update_is_in_progress_until_its_time_has_passed_then_applies_the_values(
    target: Any,
) -> None:
    values = json.dumps(
        {"env": {"ENABLE_V6_EGRESS": "true"}, "init": {"env": {"ENABLE_V6_EGRESS": "true"}}}
    )
    update = target.eks.update_addon(
        clusterName=CLUSTER, addonName="vpc-cni", configurationValues=values,
        resolveConflicts="PRESERVE", clientRequestToken="t1",
    )["update"]  # fmt: skip
    assert update["status"] == "InProgress"
    assert (
        target.eks.describe_addon(clusterName=CLUSTER, addonName="vpc-cni")["addon"]["status"]
        == "UPDATING"
    )
    again = target.eks.update_addon(
        clusterName=CLUSTER, addonName="vpc-cni", configurationValues=values,
        resolveConflicts="PRESERVE", clientRequestToken="t1",
    )["update"]  # fmt: skip
    assert again["id"] == update["id"], "the same clientRequestToken is the same update"
    CLOCK.skip(ADDON_UPDATE_SECONDS)
    done = target.eks.describe_update(name=CLUSTER, updateId=update["id"], addonName="vpc-cni")
    assert done["update"]["status"] == "Successful"
    addon = target.eks.describe_addon(clusterName=CLUSTER, addonName="vpc-cni")["addon"]
    assert addon["status"] == "ACTIVE"
    assert addon["configurationValues"] == values


def test_addon_update_outside_the_schema_is_refused(target: Any) -> None:
    with pytest.raises(ClientError) as raised:
        target.eks.update_addon(
            clusterName=CLUSTER, addonName="vpc-cni", resolveConflicts="PRESERVE",
            configurationValues=json.dumps({"env": {"NOT_A_CNI_SETTING": "1"}}),
        )  # fmt: skip
    assert raised.value.response["Error"]["Code"] == "InvalidParameterException"


def test_nodegroup_version_update_replaces_nodes_one_at_a_time_and_new_ones_get_ipv6(
    target: Any, small_estate: dict[str, Any]
) -> None:
    _dual_stack_subnets(target.ec2, small_estate["vpc_id"])
    group = target.eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName="system")["nodegroup"]
    template = group["launchTemplate"]
    version = target.ec2.create_launch_template_version(
        LaunchTemplateId=template["id"], SourceVersion=template["version"], LaunchTemplateData={}
    )["LaunchTemplateVersion"]["VersionNumber"]
    update = target.eks.update_nodegroup_version(
        clusterName=CLUSTER, nodegroupName="system",
        launchTemplate={"id": template["id"], "version": str(version)},
    )["update"]  # fmt: skip
    asg_name = group["resources"]["autoScalingGroups"][0]["name"]
    assert _node_ipv6(target.ec2, target.autoscaling, asg_name) == [False, False]

    def status() -> str:
        return str(target.eks.describe_update(
            name=CLUSTER, updateId=update["id"], nodegroupName="system"
        )["update"]["status"])  # fmt: skip

    CLOCK.skip(SECONDS_PER_NODE)
    assert status() == "InProgress"
    assert sorted(_node_ipv6(target.ec2, target.autoscaling, asg_name)) == [False, True]
    CLOCK.skip(SECONDS_PER_NODE)
    # EKS user guide, managed node update behaviour: the update ends once its new nodes are
    # Ready, which they turn some time after launch
    assert status() == "InProgress"
    assert _node_ipv6(target.ec2, target.autoscaling, asg_name) == [True, True]
    CLOCK.skip(NODE_READY_SECONDS)
    assert status() == "Successful"


def test_pod_eviction_failure_fails_the_update_and_names_the_node_group(target: Any) -> None:
    group = target.eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName="system")["nodegroup"]
    target.eks.tag_resource(
        resourceArn=group["nodegroupArn"], tags={FAIL_TAG: "PodEvictionFailure"}
    )
    update = target.eks.update_nodegroup_version(clusterName=CLUSTER, nodegroupName="system")[
        "update"
    ]
    CLOCK.skip(SECONDS_PER_NODE)
    found = target.eks.describe_update(name=CLUSTER, updateId=update["id"], nodegroupName="system")
    assert found["update"]["status"] == "Failed"
    error = found["update"]["errors"][0]
    assert error["errorCode"] == "PodEvictionFailure"
    assert "system" in error["errorMessage"]


def test_a_second_update_of_a_rolling_node_group_is_refused_as_in_use(target: Any) -> None:
    # EKS API reference, UpdateNodegroupVersion errors; DOMAIN.md, facts found by review: a
    # second update while one runs is ResourceInUseException, HTTP 409
    target.eks.update_nodegroup_version(clusterName=CLUSTER, nodegroupName="system")
    with pytest.raises(ClientError) as refused:
        target.eks.update_nodegroup_version(clusterName=CLUSTER, nodegroupName="system")
    answer = refused.value.response
    assert (answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]) == (
        "ResourceInUseException",
        409,
    )


def test_scaling_a_node_group_down_removes_its_nodes_over_time(target: Any) -> None:
    update = target.eks.update_nodegroup_config(
        clusterName=CLUSTER, nodegroupName="batch", scalingConfig={"minSize": 0, "desiredSize": 0}
    )["update"]
    assert update["status"] == "InProgress"
    CLOCK.skip(SECONDS_PER_NODE)
    found = target.eks.describe_update(name=CLUSTER, updateId=update["id"], nodegroupName="batch")
    assert found["update"]["status"] == "Successful"
    group = target.eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName="batch")["nodegroup"]
    asg = group["resources"]["autoScalingGroups"][0]["name"]
    assert _node_ipv6(target.ec2, target.autoscaling, asg) == []


def test_instance_refresh_replaces_every_instance_and_refuses_a_second_one(
    target: Any, small_estate: dict[str, Any]
) -> None:
    _dual_stack_subnets(target.ec2, small_estate["vpc_id"])
    name = f"{CLUSTER}-legacy-asg"
    refresh = target.autoscaling.start_instance_refresh(
        AutoScalingGroupName=name, Preferences={"MinHealthyPercentage": 90, "SkipMatching": False}
    )["InstanceRefreshId"]
    with pytest.raises(ClientError) as raised:
        target.autoscaling.start_instance_refresh(AutoScalingGroupName=name)
    assert raised.value.response["Error"]["Code"] == "InstanceRefreshInProgress"
    # the last instance replaced, then its warm-up (Auto Scaling user guide, instance warmup)
    CLOCK.skip(SECONDS_PER_NODE + NODE_READY_SECONDS)
    found = target.autoscaling.describe_instance_refreshes(
        AutoScalingGroupName=name, InstanceRefreshIds=[refresh]
    )["InstanceRefreshes"][0]
    assert found["Status"] == "Successful"
    assert found["PercentageComplete"] == 100
    assert found["Preferences"]["SkipMatching"] is False
    assert _node_ipv6(target.ec2, target.autoscaling, name) == [True]


def test_a_refresh_tagged_to_fail_ends_failed_with_a_reason(target: Any) -> None:
    name = f"{CLUSTER}-legacy-asg"
    target.autoscaling.create_or_update_tags(Tags=[{
        "ResourceId": name, "ResourceType": "auto-scaling-group", "Key": FAIL_TAG,
        "Value": "Failed", "PropagateAtLaunch": False,
    }])  # fmt: skip
    target.autoscaling.start_instance_refresh(AutoScalingGroupName=name)
    CLOCK.skip(SECONDS_PER_NODE)
    found = target.autoscaling.describe_instance_refreshes(AutoScalingGroupName=name)
    assert found["InstanceRefreshes"][0]["Status"] == "Failed"
    assert name in found["InstanceRefreshes"][0]["StatusReason"]


def test_an_add_on_made_twice_is_in_use(target: Any) -> None:
    # EKS API reference, CreateAddon errors: ResourceInUseException (409)
    assert refusal(target.eks.create_addon, clusterName=CLUSTER, addonName="vpc-cni") == (
        "ResourceInUseException",
        409,
    )


def test_an_add_on_update_to_a_version_eks_does_not_offer_is_refused(target: Any) -> None:
    # EKS API reference, UpdateAddon errors: InvalidParameterException (400); the versions
    # offered are DescribeAddonVersions'
    assert refusal(
        target.eks.update_addon, clusterName=CLUSTER, addonName="vpc-cni",
        addonVersion="v9.9.9-eksbuild.1", resolveConflicts="PRESERVE",
    ) == ("InvalidParameterException", 400)  # fmt: skip


def test_list_updates_names_the_updates_of_an_add_on_and_of_a_node_group(target: Any) -> None:
    # EKS API reference, ListUpdates: the update ids of the cluster, or of one node group or
    # add-on (`nodegroupName`, `addonName`)
    addon = target.eks.update_addon(
        clusterName=CLUSTER, addonName="vpc-cni", resolveConflicts="PRESERVE"
    )["update"]["id"]
    group = target.eks.update_nodegroup_version(clusterName=CLUSTER, nodegroupName="system")
    assert target.eks.list_updates(name=CLUSTER, addonName="vpc-cni")["updateIds"] == [addon]
    assert target.eks.list_updates(name=CLUSTER, nodegroupName="system")["updateIds"] == [
        group["update"]["id"]
    ]
    assert target.eks.list_updates(name=CLUSTER, nodegroupName="batch")["updateIds"] == []
