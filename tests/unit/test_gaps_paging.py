"""The embedded AWS pages as AWS does (local/gaps/paging.py): each behaviour with its reference.

EC2 API reference: "Pagination" (a response may hold fewer items than MaxResults; follow
NextToken until it is absent) and the common client errors (`InvalidPaginationToken`, 400: "The
specified pagination token is not valid or is expired"; `InvalidParameterValue`, 400). EKS API
reference, ListAccessEntries: maxResults 1-100, "returns up to 100 results and a nextToken" when
not given. The bounds are AWS's own service model's (botocore service-2.json).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.gaps import paging
from tests.unit.conftest import refusal

REGION = "eu-west-1"


@pytest.fixture
def ec2(moto: None) -> Iterator[Any]:
    before = paging.page_size()
    paging.set_page_size(None)  # AWS's own page sizes, whoever set another before
    yield boto3.client("ec2", region_name=REGION)
    paging.set_page_size(before)


def _vpc_with_subnets(ec2: Any, count: int) -> tuple[list[dict[str, Any]], list[str]]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ids = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24")["Subnet"]["SubnetId"]
        for n in range(count)
    ]
    return [{"Name": "vpc-id", "Values": [vpc]}], ids


def test_a_limit_pages_and_the_pages_join_to_the_whole(ec2: Any) -> None:
    # Given seven subnets in a VPC
    vpc_filter, ids = _vpc_with_subnets(ec2, 7)
    # When they are read five at a time
    first = ec2.describe_subnets(Filters=vpc_filter, MaxResults=5)
    second = ec2.describe_subnets(Filters=vpc_filter, MaxResults=5, NextToken=first["NextToken"])
    # Then the first page is full and holds a token, the last holds the rest and none
    assert len(first["Subnets"]) == 5
    assert "NextToken" not in second
    assert sorted(s["SubnetId"] for s in first["Subnets"] + second["Subnets"]) == sorted(ids)


def test_a_token_aws_did_not_issue_for_the_request_is_refused(ec2: Any) -> None:
    vpc_filter, _ = _vpc_with_subnets(ec2, 6)
    token = ec2.describe_subnets(Filters=vpc_filter, MaxResults=5)["NextToken"]
    # a made-up token, and one earned by another request (other filters)
    assert refusal(ec2.describe_subnets, Filters=vpc_filter, MaxResults=5, NextToken="junk") == (
        "InvalidPaginationToken",
        400,
    )
    assert refusal(ec2.describe_subnets, MaxResults=5, NextToken=token) == (
        "InvalidPaginationToken",
        400,
    )


def test_a_limit_beyond_the_operations_bound_is_an_invalid_value(ec2: Any) -> None:
    # DescribeRouteTables takes MaxResults 5-100, DescribeSubnets 5-1000 (service model)
    assert refusal(ec2.describe_route_tables, MaxResults=101) == ("InvalidParameterValue", 400)
    assert refusal(ec2.describe_subnets, MaxResults=1001) == ("InvalidParameterValue", 400)
    assert ec2.describe_route_tables(MaxResults=100)["RouteTables"] is not None


def test_without_a_limit_ec2_answers_everything_unless_a_page_size_is_set(ec2: Any) -> None:
    vpc_filter, ids = _vpc_with_subnets(ec2, 5)
    whole = ec2.describe_subnets(Filters=vpc_filter)
    assert len(whole["Subnets"]) == 5
    assert "NextToken" not in whole
    # a page size (`local serve --page-size 2`) answers fewer than asked, as AWS may
    paging.set_page_size(2)
    short = ec2.describe_subnets(Filters=vpc_filter, MaxResults=5)
    assert len(short["Subnets"]) == 2
    assert short["NextToken"]
    pages = ec2.get_paginator("describe_subnets").paginate(Filters=vpc_filter)
    assert sorted(s["SubnetId"] for page in pages for s in page["Subnets"]) == sorted(ids)
    # and a request that names its subnets gets every one it names
    assert len(ec2.describe_subnets(SubnetIds=ids)["Subnets"]) == 5


def test_eks_lists_at_most_a_hundred_access_entries_without_a_limit(ec2: Any) -> None:
    # Given a cluster with 101 access entries
    iam = boto3.client("iam", region_name=REGION)
    eks = boto3.client("eks", region_name=REGION)
    _, [subnet] = _vpc_with_subnets(ec2, 1)
    eks.create_cluster(
        name="c", roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={
            "subnetIds": [subnet]}, accessConfig={"authenticationMode": "API"},
    )  # fmt: skip
    for n in range(101):
        role = iam.create_role(RoleName=f"team-{n:03d}", AssumeRolePolicyDocument="{}")
        eks.create_access_entry(clusterName="c", principalArn=role["Role"]["Arn"])
    # When they are listed without maxResults
    first = eks.list_access_entries(clusterName="c")
    # Then 100 come, with a token for the last one
    assert len(first["accessEntries"]) == 100
    rest = eks.list_access_entries(clusterName="c", nextToken=first["nextToken"])
    assert len(rest["accessEntries"]) == 1
    assert "nextToken" not in rest
    assert refusal(eks.list_access_entries, clusterName="c", nextToken="junk") == (
        "InvalidParameterException",
        400,
    )
