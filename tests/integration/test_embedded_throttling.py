"""The embedded AWS throttles EC2 as EC2 does when asked (`faults.buckets`, `local serve
--throttle buckets`): a token bucket per account, Region and category, refilled at its rate
(EC2 API reference, "Request throttling": mutating 50 at 5/s; non-mutating 100 at 20/s;
DescribeInstances, DescribeNetworkInterfaces and DescribeSecurityGroups unfiltered 50 at 10/s),
each refused call answered with RequestLimitExceeded (HTTP 503)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local import faults
from local.gaps.timing import CLOCK
from local.seed import target_session
from local.server import EmbeddedAws

ONCE = Config(retries={"total_max_attempts": 1})  # every refusal seen, none retried


@pytest.fixture
def ec2(embedded: EmbeddedAws) -> Iterator[Any]:
    embedded.reset()
    faults.buckets(True)
    try:
        yield embedded.session().client("ec2", region_name="eu-west-1", config=ONCE)
    finally:
        faults.buckets(False)


def _refusal(error: ClientError) -> tuple[str, int]:
    return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]


def _burst(call: Any, times: int, tokens: float, rate: float) -> None:
    """`times` calls at once: EC2 takes `tokens` of them, plus what its rate refilled while
    the burst lasted (the embedded AWS answers in real time), and refuses the next."""
    began = CLOCK.now()
    taken, refused = 0, None
    for _ in range(times):
        try:
            call()
        except ClientError as error:
            refused = _refusal(error)
            break
        taken += 1
    refilled = rate * (CLOCK.now() - began)
    assert refused == ("RequestLimitExceeded", 503), (refused, taken)
    assert tokens <= taken <= tokens + refilled + 1, (taken, tokens, refilled)


def test_a_burst_of_describes_takes_the_bucket_then_its_refill(ec2: Any) -> None:
    _burst(ec2.describe_vpcs, 300, 100, 20.0)
    CLOCK.skip(1.0)  # a second on: 20 tokens
    _burst(ec2.describe_vpcs, 100, 20, 20.0)


def test_mutating_calls_have_their_own_smaller_bucket(ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    tag = lambda: ec2.create_tags(Resources=[vpc], Tags=[{"Key": "k", "Value": "v"}])  # noqa: E731
    _burst(tag, 100, 49, 5.0)  # CreateVpc took one
    CLOCK.skip(2.0)
    _burst(tag, 60, 10, 5.0)
    _burst(ec2.describe_vpcs, 300, 100, 20.0)  # the describe bucket is another, full


def test_an_unfiltered_describe_instances_spends_the_smaller_bucket(ec2: Any) -> None:
    _burst(ec2.describe_instances, 200, 50, 10.0)
    by_vpc = lambda: ec2.describe_instances(  # noqa: E731
        Filters=[{"Name": "vpc-id", "Values": ["vpc-1"]}]
    )
    _burst(by_vpc, 300, 100, 20.0)  # filtered: the non-mutating bucket


def test_each_account_and_region_has_its_own_buckets(ec2: Any, embedded: EmbeddedAws) -> None:
    _burst(ec2.describe_vpcs, 300, 100, 20.0)
    other_region = embedded.session().client("ec2", region_name="eu-central-1", config=ONCE)
    _burst(other_region.describe_vpcs, 300, 100, 20.0)
    other_account = target_session("eu-west-1", "222222222222", base=embedded.session()).client(
        "ec2", config=ONCE
    )
    _burst(other_account.describe_vpcs, 300, 100, 20.0)
    assert faults.STATE.throttled_by["ec2"] == 3
