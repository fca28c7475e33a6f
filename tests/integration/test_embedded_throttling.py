"""The embedded AWS throttles as AWS does when asked (`faults.buckets`, `local serve
--throttle buckets`): a token bucket per account and Region, refilled at its rate.

- EC2, per category (EC2 API reference, "Request throttling": mutating 50 at 5/s; non-mutating
  100 at 20/s; DescribeInstances, DescribeNetworkInterfaces and DescribeSecurityGroups
  unfiltered 50 at 10/s), each refused call answered with RequestLimitExceeded (HTTP 503).
- Step Functions, per API action, with the figures of its quotas page ("Quotas related to API
  action throttling" and "Other quotas": larger in US East (N. Virginia), US West (Oregon) and
  Europe (Ireland) than in the other Regions), refused with ThrottlingException (HTTP 400, the
  API reference's common errors). Its own interpreter's calls (a `.sync` task polling
  DescribeExecution) are the service's, not the caller's: they spend no token.
- EKS and Auto Scaling publish no bucket figures: they throttle at the rates an operator sets
  (`rates=`, `--rate`), with their own errors (ThrottlingException 429; Throttling 400), and
  not at all without one.
"""

from __future__ import annotations

import json
import time
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
def buckets(embedded: EmbeddedAws) -> Iterator[EmbeddedAws]:
    """A fresh embedded AWS with the buckets on."""
    embedded.reset()
    faults.buckets(True)
    try:
        yield embedded
    finally:
        faults.buckets(False)


@pytest.fixture
def ec2(buckets: EmbeddedAws) -> Iterator[Any]:
    """An EC2 client of it with the clock held still: only `CLOCK.skip` refills a bucket, so
    every figure below is exact (in real time, the refill between a refusal on the server and
    the next call cannot be measured from the test)."""
    with CLOCK.frozen():
        yield buckets.session().client("ec2", region_name="eu-west-1", config=ONCE)


def _refusal(error: ClientError) -> tuple[str, int]:
    return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]


def _burst(
    call: Any, times: int, tokens: int, refusal: tuple[str, int] = ("RequestLimitExceeded", 503)
) -> None:
    """`times` calls at once, the clock held still: the service takes exactly `tokens` of them
    and refuses the next with `refusal`."""
    taken, refused = 0, None
    for _ in range(times):
        try:
            call()
        except ClientError as error:
            refused = _refusal(error)
            break
        taken += 1
    assert (taken, refused) == (tokens, refusal)


def test_a_burst_of_describes_takes_the_bucket_then_its_refill(ec2: Any) -> None:
    _burst(ec2.describe_vpcs, 300, 100)
    CLOCK.skip(1.0)  # a second at 20/s
    _burst(ec2.describe_vpcs, 100, 20)
    CLOCK.skip(0.25)  # a quarter of a second: 5 tokens
    _burst(ec2.describe_vpcs, 100, 5)


def test_mutating_calls_have_their_own_smaller_bucket(ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    tag = lambda: ec2.create_tags(Resources=[vpc], Tags=[{"Key": "k", "Value": "v"}])  # noqa: E731
    _burst(tag, 100, 49)  # CreateVpc took one
    CLOCK.skip(2.0)  # two seconds at 5/s
    _burst(tag, 60, 10)
    _burst(ec2.describe_vpcs, 300, 100)  # the describe bucket is another, full


def test_an_unfiltered_describe_instances_spends_the_smaller_bucket(ec2: Any) -> None:
    _burst(ec2.describe_instances, 200, 50)
    by_vpc = lambda: ec2.describe_instances(  # noqa: E731
        Filters=[{"Name": "vpc-id", "Values": ["vpc-1"]}]
    )
    _burst(by_vpc, 300, 100)  # filtered: the non-mutating bucket


def test_each_account_and_region_has_its_own_buckets(ec2: Any, embedded: EmbeddedAws) -> None:
    _burst(ec2.describe_vpcs, 300, 100)
    other_region = embedded.session().client("ec2", region_name="eu-central-1", config=ONCE)
    _burst(other_region.describe_vpcs, 300, 100)
    other_account = target_session("eu-west-1", "222222222222", base=embedded.session()).client(
        "ec2", config=ONCE
    )
    _burst(other_account.describe_vpcs, 300, 100)
    assert faults.STATE.throttled_by["ec2"] == 3


def _machine(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    arn: str = sfn.create_state_machine(
        name=name, roleArn="arn:aws:iam::123456789012:role/sfn", definition=json.dumps(definition)
    )["stateMachineArn"]
    return arn


PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
SFN_REFUSAL = ("ThrottlingException", 400)


@pytest.mark.parametrize(
    ("region", "tokens", "rate"),
    [("eu-west-1", 200, 5.0), ("eu-central-1", 100, 2.0)],  # ListExecutions: Ireland, elsewhere
)
def test_step_functions_throttles_each_action_by_its_regions_bucket(
    ec2: Any, embedded: EmbeddedAws, region: str, tokens: int, rate: float
) -> None:
    sfn = embedded.session().client("stepfunctions", region_name=region, config=ONCE)
    machine = _machine(sfn, "m", PASS)
    listing = lambda: sfn.list_executions(stateMachineArn=machine)  # noqa: E731
    _burst(listing, tokens + 50, tokens, SFN_REFUSAL)
    CLOCK.skip(2.0)
    _burst(listing, 50, int(2 * rate), SFN_REFUSAL)
    # another action has its own bucket (ListStateMachines: 100 at 5/s in every Region)
    _burst(sfn.list_state_machines, 150, 100, SFN_REFUSAL)
    # and an action the quotas page names no bucket for is not throttled by the embedded AWS
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    for _ in range(150):
        sfn.list_map_runs(executionArn=execution)


def test_step_functions_start_execution_has_the_standard_bucket_of_the_region() -> None:
    assert faults.bucket_of("stepfunctions", "StartExecution", "us-east-1", {}) == (
        "StartExecution",
        1300,
        300.0,
    )
    assert faults.bucket_of("stepfunctions", "StartExecution", "ap-south-1", {}) == (
        "StartExecution",
        800,
        150.0,
    )
    assert faults.bucket_of("stepfunctions", "DescribeExecution", "us-west-2", {}) == (
        "DescribeExecution",
        300,
        15.0,
    )
    assert faults.bucket_of("stepfunctions", "SendTaskSuccess", "eu-central-1", {}) == (
        "SendTaskSuccess",
        1500,
        300.0,
    )
    assert faults.bucket_of("stepfunctions", "UpdateMapRun", "eu-west-1", {}) is None


def test_a_sync_task_polls_without_spending_the_callers_tokens(buckets: EmbeddedAws) -> None:
    """While a caller keeps DescribeExecution's bucket empty, a parent's `startExecution.sync:2`
    still learns its child's end: the service polls for itself (or, on AWS, is told by an
    event), and a throttled poll would fail the task with no retry."""
    sfn = buckets.session().client("stepfunctions", region_name="eu-central-1", config=ONCE)
    child = _machine(sfn, "child", PASS)
    parent = _machine(sfn, "parent", {"StartAt": "Run", "States": {"Run": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child, "Input": {}}, "End": True}}})  # fmt: skip
    drained = sfn.start_execution(stateMachineArn=child)["executionArn"]
    refusals: list[tuple[str, int]] = []
    for _ in range(400):  # empty the bucket (250 at 10/s in Frankfurt) before the parent starts
        try:
            sfn.describe_execution(executionArn=drained)
        except ClientError as error:
            refusals.append(_refusal(error))
            break
    assert refusals == [SFN_REFUSAL]
    execution = sfn.start_execution(stateMachineArn=parent)["executionArn"]
    ended: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while not ended and time.monotonic() < deadline:
        try:
            described = sfn.describe_execution(executionArn=execution)
        except ClientError as error:
            refusals.append(_refusal(error))
            continue
        if described["status"] != "RUNNING":
            ended = described
    assert len(refusals) > 1, "the caller did not keep the bucket empty"
    assert set(refusals) == {SFN_REFUSAL}
    assert ended.get("status") == "SUCCEEDED", ended


def test_eks_and_auto_scaling_throttle_only_at_the_rates_an_operator_sets(
    embedded: EmbeddedAws,
) -> None:
    embedded.reset()
    session = embedded.session()
    eks = session.client("eks", region_name="eu-west-1", config=ONCE)
    autoscaling = session.client("autoscaling", region_name="eu-west-1", config=ONCE)
    faults.buckets(True)
    try:
        for _ in range(120):  # no published figures: nothing invented
            eks.list_clusters()
            autoscaling.describe_auto_scaling_groups()
        faults.buckets(True, rates={"eks": (20, 2.0), "autoscaling": (10, 1.0)})
        with CLOCK.frozen():
            _burst(eks.list_clusters, 40, 20, ("ThrottlingException", 429))
            _burst(autoscaling.describe_auto_scaling_groups, 40, 10, ("Throttling", 400))
            CLOCK.skip(3.0)  # 2/s and 1/s
            _burst(eks.list_clusters, 40, 6, ("ThrottlingException", 429))
            _burst(autoscaling.describe_auto_scaling_groups, 40, 3, ("Throttling", 400))
            other_region = session.client("eks", region_name="eu-central-1", config=ONCE)
            _burst(other_region.list_clusters, 40, 20, ("ThrottlingException", 429))
    finally:
        faults.buckets(False)
    with pytest.raises(ValueError, match="no throttling answer"):
        faults.buckets(True, rates={"lambda": (1, 1.0)})
