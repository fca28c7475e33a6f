"""Apply mode end to end in the embedded AWS: stages, events, re-runs, failures compensated."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local import faults
from local.gaps.ec2_ipv6 import without_default_ipv6_rules
from local.seed import ESTATES, seed, target_session
from tests.integration.conftest import Stack
from v6migrate.aws import clients_for
from v6migrate.discover import discover
from v6migrate.models import PlanOptions
from v6migrate.plan import plan

SMALL = ESTATES["small"]
# The stages are what these tests hold: no approval (tests/integration/test_approval.py has it)
APPLY = {"cluster": SMALL.cluster, "account_id": SMALL.account_id, "region": SMALL.region,
         "mode": "apply", "approval": {"mode": "none"}}  # fmt: skip


@pytest.fixture(autouse=True)
def _faults_off() -> Iterator[None]:
    yield
    faults.disarm()
    faults.throttle(0.0)


def _remaining(stack: Stack) -> dict[str, int]:
    session = target_session(SMALL.region, SMALL.account_id, stack.session)
    clients = clients_for(session, SMALL.account_id, SMALL.region)
    return plan(discover(clients, SMALL.cluster), PlanOptions()).counts()


def _network(stack: Stack, vpc_id: str) -> dict[str, Any]:
    """Everything the vpc and attachments stages touch, normalised for comparison."""
    ec2 = target_session(SMALL.region, SMALL.account_id, stack.session).client("ec2")
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    subnets = ec2.describe_subnets(Filters=by_vpc)["Subnets"]
    tables = ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]
    return {
        "subnets": sorted(
            (
                s["SubnetId"],
                s["AssignIpv6AddressOnCreation"],
                sorted(
                    a["Ipv6CidrBlock"]
                    for a in s.get("Ipv6CidrBlockAssociationSet", [])
                    if a["Ipv6CidrBlockState"]["State"] != "disassociated"
                ),
            )
            for s in subnets
        ),
        "routes": sorted(
            (t["RouteTableId"], json.dumps(r, sort_keys=True))
            for t in tables
            for r in t["Routes"]
            if r.get("GatewayId") != "local"
        ),
        "groups": sorted(
            json.dumps(g, sort_keys=True, default=str)
            for g in ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"]
        ),
        "acls": sorted(
            # AWS's own IPv6 rules of the default ACL come with the kept /56
            json.dumps(without_default_ipv6_rules(a), sort_keys=True, default=str)
            for a in ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"]
        ),
        "tgw": [
            a["Options"]
            for a in ec2.describe_transit_gateway_vpc_attachments(Filters=by_vpc)[
                "TransitGatewayVpcAttachments"
            ]
        ],
        "eigw": sorted(
            g["EgressOnlyInternetGatewayId"]
            for g in ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]
            if any(a["VpcId"] == vpc_id for a in g["Attachments"])
        ),
    }


def test_apply_migrates_every_stage_and_validates(stack: Stack) -> None:
    seed(SMALL, stack.session)
    description = stack.run(APPLY, name="apply-1")
    assert description["status"] == "SUCCEEDED", description.get("cause")
    entered = stack.entered(description["executionArn"])
    stages = [s for s in entered if s.endswith("Succeeded") and s != "PreflightSucceeded"]
    assert stages == [
        "VpcDualStackSucceeded", "AttachmentsSucceeded", "CniEgressSucceeded",
        "NodeRolloutSucceeded", "ValidateSucceeded", "MigrationSucceeded",
    ]  # fmt: skip
    # start-then-poll: the long stages were polled through their Wait states
    assert "CniEgressWait" in entered
    assert "NodeRolloutWait" in entered
    assert _remaining(stack) == {"vpc": 0, "attachments": 0, "cni": 0, "nodes": 0}
    events = stack.events()
    kinds = [(e["detail-type"], e["detail"]["stage"]) for e in events]
    for stage in ("vpc", "attachments", "cni", "nodes", "validate"):
        assert ("Stage Succeeded", stage) in kinds
    assert kinds[-1] == ("Migration Succeeded", "migration")
    assert events[-1]["detail"]["validation"]["passed"] is True
    output = json.loads(description["output"])
    assert output["validation"]["report"] == events[-1]["detail"]["validation"]
    assert set(output["stages"]) == {"vpc", "attachments", "cni", "nodes"}
    # And the target account's records (CloudTrail's userIdentity) name the run: every
    # session of the target role the run took is named after it (the seeder's aside)
    assert _target_sessions(SMALL.account_id) - {"v6migrate-seeder"} == {"v6m-apply-1"}


def _target_sessions(account: str) -> set[str]:
    """The session names of the target role's sessions in `account`, as STS issued them."""
    from moto.sts.models import sts_backends

    return {
        role.session_name
        for role in sts_backends[account]["global"].assumed_roles
        if ":role/v6migrate-target" in role.role_arn
    }


def test_a_run_after_success_changes_nothing(stack: Stack) -> None:
    seed(SMALL, stack.session)
    assert stack.run(APPLY, name="apply-first")["status"] == "SUCCEEDED"
    faults.arm()
    again = stack.run(APPLY, name="apply-again")
    assert again["status"] == "SUCCEEDED"
    assert faults.mutations() == []


@pytest.mark.parametrize(("fail_at", "stage"), [(1, "vpc"), (16, "vpc"), (29, "attachments")])
def test_a_failure_in_a_stage_is_compensated(stack: Stack, fail_at: int, stage: str) -> None:
    ids = seed(SMALL, stack.session)
    before = _network(stack, ids["vpc_id"])
    faults.arm(fail_at=fail_at)
    description = stack.run(APPLY, name=f"apply-fail-{fail_at}")
    faults.disarm()
    assert description["status"] == "FAILED"
    assert description["error"] == "ChangeFailed"
    entered = stack.entered(description["executionArn"])
    assert [s for s in entered[-5:] if s != "RolledBack?"] == [
        f"{'VpcDualStack' if stage == 'vpc' else 'Attachments'}Failed",
                            "Rollback", "RolledBack", "MigrationFailed"]  # fmt: skip
    assert _network(stack, ids["vpc_id"]) == before
    events = {e["detail-type"]: e["detail"] for e in stack.events()}
    assert events["Stage Failed"]["stage"] == stage
    # The /56 is kept (irreversible), unless the very first call, its association, failed
    kept = [] if fail_at == 1 else [f"vpc:associate-vpc-ipv6-cidr:{ids['vpc_id']}"]
    assert events["Migration Rolled Back"]["kept"] == kept


def test_a_preflight_that_fails_removing_its_access_entry_leaves_none(stack: Stack) -> None:
    # Given the third mutating call of the run, Preflight's DeleteAccessEntry, failing once
    seed(SMALL, stack.session)
    faults.arm(fail_at=3, services=faults.ALL_SERVICES)
    description = stack.run(APPLY, name="preflight-fault")
    calls = faults.mutations()
    faults.disarm()
    assert calls[:3] == ["eks:CreateAccessEntry", "eks:AssociateAccessPolicy",
                         "eks:DeleteAccessEntry"]  # fmt: skip
    # Then the run fails with Preflight's error, having changed nothing and left no entry
    assert description["status"] == "FAILED"
    assert description["error"] == "ChangeFailed"
    assert "PreflightCleanUp" in stack.entered(description["executionArn"])
    eks = target_session(SMALL.region, SMALL.account_id, stack.session).client("eks")
    assert eks.list_access_entries(clusterName=SMALL.cluster)["accessEntries"] == []


def test_a_second_migration_of_a_cluster_in_progress_is_refused(stack: Stack) -> None:
    seed(SMALL, stack.session)
    stack.session.client("dynamodb").put_item(
        TableName=stack.deployment.outputs["LedgerTableName"],
        Item={"pk": {"S": f"cluster#{SMALL.account_id}#{SMALL.region}#{SMALL.cluster}"},
              "sk": {"S": "lock"}, "migration_id": {"S": "someone-else"}},
    )  # fmt: skip
    description = stack.run(APPLY, name="apply-locked")
    assert description["status"] == "FAILED"
    assert description["error"] == "MigrationInProgress"
    assert "someone-else" in description["cause"]


def test_with_a_tenth_of_every_services_calls_throttled_the_migration_still_succeeds(
    stack: Stack,
) -> None:
    # Given every service the workflow calls throttling a tenth of its calls, each with its own
    # code and status (EC2 503, EKS and Network Manager 429, the rest 400: faults.THROTTLING;
    # the clients' back-off sleeps for real, so a larger share only makes the test slower)
    seed(SMALL, stack.session)
    faults.throttle(0.1)
    # When a migration runs
    description = stack.run(APPLY, name="apply-throttled", timeout=240)
    throttled = dict(faults.STATE.throttled_by)
    faults.throttle(0.0)
    # Then the clients' retries and the state machine's absorb it all
    assert description["status"] == "SUCCEEDED", description.get("cause")
    for service in ("ec2", "eks", "autoscaling", "sts", "dynamodb"):
        assert throttled.get(service, 0) > 0, throttled
    remaining = _remaining(stack)
    assert (remaining["vpc"], remaining["attachments"]) == (0, 0)


def test_an_operation_past_its_poll_cap_fails_its_stage_and_is_compensated(stack: Stack) -> None:
    # Given a stack that allows one poll of a long operation (the CNI stage needs several: the
    # add-on update, then aws-node rolling out node by node)
    from local.deploy import deploy, local_parameters

    deploy(stack.session, parameters={**local_parameters("WARNING"), "MaxPolls": "1"})
    ids = seed(SMALL, stack.session)
    before = _network(stack, ids["vpc_id"])
    # When a migration runs
    description = stack.run(APPLY, name="apply-poll-cap")
    # Then the CNI stage fails as over its cap, and compensation restores the network
    assert description["status"] == "FAILED"
    entered = stack.entered(description["executionArn"])
    assert "CniEgressPollLimit" in entered
    assert entered.index("CniEgressPollLimit") < entered.index("Rollback")
    assert "NodeRolloutStarted" not in entered
    assert _network(stack, ids["vpc_id"]) == before
    events = {e["detail-type"]: e["detail"] for e in stack.events()}
    assert events["Stage Failed"] == {**events["Stage Failed"], "stage": "cni",
                                      "error": "PollLimitExceeded"}  # fmt: skip
