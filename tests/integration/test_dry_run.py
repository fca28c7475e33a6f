"""The dry run end to end: the real state machine, in the embedded AWS's interpreter."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local.seed import ESTATES, seed
from tests.integration.conftest import Stack
from v6migrate.events import EVENT_TYPES, StageFailedDetail

SMALL = ESTATES["small"]
REQUEST = {"cluster": SMALL.cluster, "account_id": SMALL.account_id, "region": SMALL.region}


def _snapshot(session: boto3.Session, vpc_id: str) -> dict[str, Any]:
    """What the workflow could touch, as describe calls report it."""
    from local.seed import target_session

    target = target_session(SMALL.region, SMALL.account_id, session)
    ec2, eks = target.client("ec2"), target.client("eks")
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    return {
        "vpc": ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"],
        "subnets": ec2.describe_subnets(Filters=by_vpc)["Subnets"],
        "routes": ec2.describe_route_tables(Filters=by_vpc)["RouteTables"],
        "groups": ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"],
        "acls": ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"],
        "addon": eks.describe_addon(clusterName=SMALL.cluster, addonName="vpc-cni")["addon"],
        "tgw": ec2.describe_transit_gateway_vpc_attachments(Filters=by_vpc)[
            "TransitGatewayVpcAttachments"
        ],
    }


def test_dry_run_returns_the_plan_emits_stage_events_and_changes_nothing(stack: Stack) -> None:
    # Given the small estate in account 222222222222
    ids = seed(SMALL, stack.session)
    before = _snapshot(stack.session, ids["vpc_id"])
    # When the migration state machine runs in plan mode
    description = stack.run({**REQUEST, "mode": "plan"}, name="dry-run-1")
    # Then it succeeds with the plan as output
    assert description["status"] == "SUCCEEDED"
    plan = json.loads(description["output"])
    assert plan["blocked"] is False
    assert plan["account_id"] == SMALL.account_id
    assert plan["counts"]["vpc"] > 0
    assert plan["counts"]["nodes"] == 3
    assert stack.entered(description["executionArn"])[-3:] == [
        "PreflightSucceeded", "DryRun?", "PlanReady",
    ]  # fmt: skip
    # And the stage events reached the v6migrate bus with the common fields
    events = stack.events()
    assert [e["detail-type"] for e in events] == [
        "Stage Started", "Stage Succeeded", "Migration Planned",
    ]  # fmt: skip
    models = {e.detail_type: e.detail for e in EVENT_TYPES}
    for event in events:
        models[event["detail-type"]].model_validate(event["detail"])  # the documented contract
        assert event["source"] == "v6migrate"
        assert event["detail"]["migration_id"] == "dry-run-1"
        assert event["detail"]["cluster"] == SMALL.cluster
    # And nothing in the estate changed
    assert _snapshot(stack.session, ids["vpc_id"]) == before
    # And it acted there through the read-only role alone, as the run (no role that can write)
    assert _sessions(SMALL.account_id) == {("v6migrate-target-read", "v6m-dry-run-1")}


def _sessions(account: str) -> set[tuple[str, str]]:
    """(role, session) of each session STS issued in `account` for the workflow (not the
    seeder's)."""
    from moto.sts.models import sts_backends

    return {
        (role.role_arn.rsplit("/", 1)[-1], role.session_name)
        for role in sts_backends[account]["global"].assumed_roles
        if role.session_name != "v6migrate-seeder"
    }


def test_blocked_estate_dry_run_returns_the_blockers(stack: Stack) -> None:
    seed(SMALL.model_copy(update={"cni_version": "v1.12.6-eksbuild.2"}), stack.session)
    description = stack.run({**REQUEST, "mode": "plan"}, name="dry-run-blocked")
    assert description["status"] == "SUCCEEDED"
    plan = json.loads(description["output"])
    assert plan["blocked"] is True
    assert [b["code"] for b in plan["blockers"]] == ["cni-too-old"]


def test_apply_of_a_blocked_estate_fails_before_any_change(stack: Stack) -> None:
    seed(SMALL.model_copy(update={"cni_version": "v1.12.6-eksbuild.2"}), stack.session)
    description = stack.run({**REQUEST, "mode": "apply"}, name="apply-blocked")
    assert description["status"] == "FAILED"
    assert description["error"] == "BlockedError"


@pytest.mark.parametrize(
    ("request_changes", "error"),
    [({"cluster": "ghost"}, "ClusterNotFound"), ({"account_id": "22"}, "ValidationError")],
)
def test_a_failing_preflight_fails_the_run_by_error_name_with_a_stage_failed_event(
    stack: Stack, request_changes: dict[str, Any], error: str
) -> None:
    seed(SMALL, stack.session)
    description = stack.run({**REQUEST, **request_changes, "mode": "plan"}, name=f"fail-{error}")
    assert description["status"] == "FAILED"
    assert description["error"] == error
    failed = [e for e in stack.events() if e["detail-type"] == "Stage Failed"]
    for event in failed:
        StageFailedDetail.model_validate(event["detail"])
    assert [(e["detail"]["stage"], e["detail"]["error"]) for e in failed] == [("preflight", error)]
