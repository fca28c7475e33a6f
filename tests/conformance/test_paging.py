"""Pages, as the EC2, EKS and Auto Scaling API references describe them: a limit within the
operation's bounds, a token that only its own request may use, and every item reached by
following the tokens."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.conftest import Target, error_of, tags


def test_ec2_pages_follow_their_tokens_to_every_item(aws: Target, vpc: dict[str, Any]) -> None:
    # EC2 API reference, Pagination: a page may hold fewer items than MaxResults; the client
    # follows NextToken until it is absent. DescribeSecurityGroups: MaxResults 5-1000.
    ec2 = aws.client("ec2")
    made = []
    for index in range(7):
        group = ec2.create_security_group(
            VpcId=vpc["vpc_id"], GroupName=f"conformance-{index}", Description="paging",
            TagSpecifications=tags("security-group"),
        )["GroupId"]  # fmt: skip
        made.append(group)
        aws.later(partial(ec2.delete_security_group, GroupId=group))
    wanted = [{"Name": "vpc-id", "Values": [vpc["vpc_id"]]}]
    seen: list[str] = []
    pages = 0
    token: str | None = None
    while True:
        asked: dict[str, Any] = {"Filters": wanted, "MaxResults": 5}
        if token:
            asked["NextToken"] = token
        page = ec2.describe_security_groups(**asked)
        pages += 1
        assert len(page["SecurityGroups"]) <= 5
        seen += [g["GroupId"] for g in page["SecurityGroups"]]
        token = page.get("NextToken")
        if not token:
            break
    assert set(made) <= set(seen)
    assert len(seen) == len(set(seen)), "an item came twice"
    assert pages >= 2


@pytest.mark.parametrize("limit", [4, 1001])
def test_an_ec2_limit_outside_the_operations_bounds_is_refused(
    aws: Target, vpc: dict[str, Any], limit: int
) -> None:
    # EC2 API reference, DescribeSubnets: MaxResults 5-1000; common client errors:
    # InvalidParameterValue. botocore checks the lower bound itself, so the request goes out
    # with its validation off, as another SDK's would.
    from botocore.config import Config

    ec2 = aws.session.client("ec2", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as refused:
        ec2.describe_subnets(
            Filters=[{"Name": "vpc-id", "Values": [vpc["vpc_id"]]}], MaxResults=limit
        )
    assert error_of(refused) == ("InvalidParameterValue", 400)


def test_an_ec2_token_it_did_not_issue_is_refused(aws: Target, vpc: dict[str, Any]) -> None:
    # EC2 API reference, common client errors: InvalidPaginationToken ("The specified
    # pagination token is not valid or is expired").
    ec2 = aws.client("ec2")
    with pytest.raises(ClientError) as refused:
        ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [vpc["vpc_id"]]}], MaxResults=5,
            NextToken="not-a-token-ec2-issued",
        )  # fmt: skip
    assert error_of(refused) == ("InvalidPaginationToken", 400)


def test_an_eks_token_it_did_not_issue_is_refused(aws: Target) -> None:
    # EKS API reference, ListClusters: InvalidParameterException (400) for a bad parameter.
    eks = aws.client("eks")
    with pytest.raises(ClientError) as refused:
        eks.list_clusters(nextToken="not-a-token-eks-issued")
    assert error_of(refused) == ("InvalidParameterException", 400)


@pytest.mark.parametrize("limit", [0, 101])
def test_an_eks_limit_outside_1_to_100_is_refused(aws: Target, cluster: str, limit: int) -> None:
    # EKS API reference, ListNodegroups: maxResults 1-100. botocore checks the lower bound
    # itself, so the request goes out with its validation off, as another SDK's would.
    from botocore.config import Config

    eks = aws.session.client("eks", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as refused:
        eks.list_nodegroups(clusterName=cluster, maxResults=limit)
    assert error_of(refused) == ("InvalidParameterException", 400)


def test_an_auto_scaling_token_it_did_not_issue_is_refused(aws: Target) -> None:
    # Auto Scaling API reference, DescribeAutoScalingGroups errors: InvalidNextToken (400).
    autoscaling = aws.client("autoscaling")
    with pytest.raises(ClientError) as refused:
        autoscaling.describe_auto_scaling_groups(NextToken="not-a-token-auto-scaling-issued")
    assert error_of(refused) == ("InvalidNextToken", 400)


def test_a_load_balancer_marker_it_did_not_issue_is_refused(aws: Target) -> None:
    # Elastic Load Balancing API reference, DescribeLoadBalancers (Marker, PageSize 1-400);
    # common errors: ValidationError (400).
    elbv2 = aws.client("elbv2")
    with pytest.raises(ClientError) as refused:
        elbv2.describe_load_balancers(Marker="not-a-marker-elb-issued")
    assert error_of(refused) == ("ValidationError", 400)


@pytest.mark.parametrize("limit", [0, 501])
def test_a_cloud_wan_limit_outside_1_to_500_is_refused(aws: Target, limit: int) -> None:
    # Network Manager API reference, ListAttachments: MaxResults 1-500; errors:
    # ValidationException (400). Network Manager answers from us-west-2 (its home Region).
    from botocore.config import Config

    manager = aws.session.client(
        "networkmanager", region_name="us-west-2", config=Config(parameter_validation=False)
    )
    with pytest.raises(ClientError) as refused:
        manager.list_attachments(MaxResults=limit)
    assert error_of(refused) == ("ValidationException", 400)
