"""Auto Scaling's CancelInstanceRefresh and IPAM's GetIpamPoolAllocations, as their API
references describe them (both billed on an account: instances, an IPAM)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.conftest import Target, error_of, tags
from tests.conformance.test_ec2_ipv6 import _an_image


def test_a_cancelled_instance_refresh_is_cancelling_then_cancelled(
    aws: Target, vpc: dict[str, Any], billed: None
) -> None:
    # Auto Scaling API reference, CancelInstanceRefresh (answers the refresh's id; the
    # refresh goes Cancelling, then Cancelled); errors: ActiveInstanceRefreshNotFound (400)
    # when none is in progress.
    ec2, autoscaling = aws.client("ec2"), aws.client("autoscaling")
    template = ec2.create_launch_template(
        LaunchTemplateName="v6migrate-conformance",
        LaunchTemplateData={"ImageId": _an_image(aws), "InstanceType": "t3.micro"},
        TagSpecifications=tags("launch-template"),
    )["LaunchTemplate"]["LaunchTemplateId"]  # fmt: skip
    aws.later(lambda: ec2.delete_launch_template(LaunchTemplateId=template))
    group = "v6migrate-conformance"
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=0, MaxSize=2, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        VPCZoneIdentifier=vpc["subnet"],
    )  # fmt: skip
    aws.later(
        lambda: autoscaling.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
    )
    with pytest.raises(ClientError) as refused:
        autoscaling.cancel_instance_refresh(AutoScalingGroupName=group)
    assert error_of(refused) == ("ActiveInstanceRefreshNotFound", 400)
    started = autoscaling.start_instance_refresh(
        AutoScalingGroupName=group, Preferences={"MinHealthyPercentage": 50}
    )["InstanceRefreshId"]
    cancelled = autoscaling.cancel_instance_refresh(AutoScalingGroupName=group)
    assert cancelled["InstanceRefreshId"] == started

    def status() -> str:
        found = autoscaling.describe_instance_refreshes(
            AutoScalingGroupName=group, InstanceRefreshIds=[started]
        )["InstanceRefreshes"]
        return str(found[0]["Status"])

    assert status() in ("Cancelling", "Cancelled")
    aws.until(lambda: status() == "Cancelled", "the refresh cancelled")
    # DescribeInstanceRefreshes pages too (MaxRecords, NextToken): a token it did not issue
    # is InvalidNextToken (400)
    with pytest.raises(ClientError) as refused:
        autoscaling.describe_instance_refreshes(AutoScalingGroupName=group, NextToken="junk")
    assert error_of(refused) == ("InvalidNextToken", 400)


def test_a_pools_allocations_name_the_vpc_that_holds_each_block(
    aws: Target, vpc: dict[str, Any], billed: None
) -> None:
    # EC2 API reference: CreateIpamPool, ProvisionIpamPoolCidr, AssociateVpcCidrBlock with
    # Ipv6IpamPoolId and Ipv6NetmaskLength, GetIpamPoolAllocations (Cidr, ResourceId,
    # ResourceType vpc).
    ec2 = aws.client("ec2")
    ipam = ec2.create_ipam(OperatingRegions=[{"RegionName": ec2.meta.region_name}])["Ipam"]
    aws.later(lambda: ec2.delete_ipam(IpamId=ipam["IpamId"], Cascade=True))
    pool = ec2.create_ipam_pool(
        IpamScopeId=ipam["PrivateDefaultScopeId"], AddressFamily="ipv6",
        Locale=ec2.meta.region_name,
    )["IpamPool"]["IpamPoolId"]  # fmt: skip
    ec2.provision_ipam_pool_cidr(IpamPoolId=pool, Cidr="fd00:ec2:1000::/52")
    association = ec2.associate_vpc_cidr_block(
        VpcId=vpc["vpc_id"], Ipv6IpamPoolId=pool, Ipv6NetmaskLength=56
    )["Ipv6CidrBlockAssociation"]
    allocations = ec2.get_ipam_pool_allocations(IpamPoolId=pool)["IpamPoolAllocations"]
    assert [(a["Cidr"], a["ResourceId"], a["ResourceType"]) for a in allocations] == [
        (association["Ipv6CidrBlock"], vpc["vpc_id"], "vpc")
    ]
