"""The REST API (issue 11, item 3) through the embedded API Gateway: IAM (SigV4) auth, the
caller recorded, idempotent starts, approvals, and a 400 naming the field for bad input."""

from __future__ import annotations

import time
from typing import Any

from local.seed import ESTATES, seed
from tests.integration.conftest import Stack

SMALL = ESTATES["small"]
TARGET = {"cluster": SMALL.cluster, "account_id": SMALL.account_id, "region": SMALL.region}


def _until_done(stack: Stack, migration_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = stack.api("GET", f"/migrations/{migration_id}")
        assert answer.status == 200, answer
        if answer.body["status"] != "RUNNING":
            return dict(answer.body)
        time.sleep(0.2)
    raise AssertionError(f"{migration_id} still running")


def test_unsigned_requests_and_unknown_routes_get_api_gateways_403(stack: Stack) -> None:
    # API Gateway developer guide, gateway responses: MISSING_AUTHENTICATION_TOKEN (403) for a
    # request without a signature and for a path no resource matches; INVALID_SIGNATURE (403)
    unsigned = stack.api("POST", "/plans", TARGET, sign=False)
    assert (unsigned.status, unsigned.body) == (403, {"message": "Missing Authentication Token"})
    assert unsigned.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    nowhere = stack.api("GET", "/nowhere")
    assert (nowhere.status, nowhere.body["message"]) == (403, "Missing Authentication Token")
    import boto3

    forged = boto3.Session(aws_access_key_id="embedded", aws_secret_access_key="not-the-secret",
                           region_name=stack.session.region_name)  # fmt: skip
    wrong = stack.api("POST", "/plans", TARGET, session=forged)
    assert wrong.status == 403
    assert wrong.headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_a_plan_started_through_the_api_records_its_caller_and_reports_its_summary(
    stack: Stack,
) -> None:
    seed(SMALL, stack.session)
    me = stack.session.client("sts").get_caller_identity()["Arn"]
    started = stack.api("POST", "/plans", TARGET)
    assert started.status == 201, started
    assert started.body["requested_by"] == me
    assert started.headers["Location"] == f"/migrations/{started.body['migration_id']}"
    done = _until_done(stack, started.body["migration_id"])
    assert done["status"] == "SUCCEEDED"
    assert done["stage"] == "PlanSucceeded" or done["stage"]
    assert done["output"]["counts"]["vpc"] > 0  # the plan's summary
    # The newest state is reported, not the first one
    assert done["stage"] != "Defaults"


def test_a_start_retried_with_its_client_token_is_the_same_run_and_other_input_conflicts(
    stack: Stack,
) -> None:
    seed(SMALL, stack.session)
    body = {**TARGET, "mode": "plan", "client_token": "retry-me-0001"}
    first = stack.api("POST", "/migrations", body)
    again = stack.api("POST", "/migrations", body)
    assert (first.status, again.status) == (201, 200), (first, again)
    assert again.body["migration_id"] == first.body["migration_id"]
    assert again.body["replayed"] is True
    _until_done(stack, first.body["migration_id"])
    # Once finished, the same token and body still name that run; another body is a conflict
    assert stack.api("POST", "/migrations", body).body["migration_id"] == first.body["migration_id"]
    other = stack.api("POST", "/migrations", {**body, "release_vpc_cidr": True})
    assert other.status == 409, other
    # Another caller's same token is their own run
    someone = stack.as_role("platform", "someone")
    theirs = stack.api("POST", "/migrations", body, session=someone)
    assert theirs.status == 201
    assert theirs.body["migration_id"] != first.body["migration_id"]


def test_an_apply_started_through_the_api_is_approved_through_it_by_another_person(
    stack: Stack,
) -> None:
    seed(SMALL, stack.session)
    requester = stack.as_role("platform", "alice")
    approver = stack.as_role("network-leads", "bob")
    bob = approver.client("sts").get_caller_identity()["Arn"]
    platform = "arn:aws:iam::123456789012:role/platform"
    body = {**TARGET, "mode": "apply", "client_token": "apply-0001",
            "approval": {"approvers": [bob, platform]}}  # fmt: skip
    started = stack.api("POST", "/migrations", body, session=requester)
    assert started.status == 201, started
    migration_id = started.body["migration_id"]
    assert started.body["requested_by"].endswith(":assumed-role/platform/alice")
    approval_id = stack.approval_id(migration_id)
    # The requester's role is on the list, but a requester may not approve their own run
    own = stack.api("POST", f"/approvals/{approval_id}", {"decision": "approve"},
                    session=requester)  # fmt: skip
    assert own.status == 403, own
    assert "asked for this run" in own.body["message"]
    # Someone not on the list: 403; the approver: approved, and the run goes on
    outsider = stack.as_role("developers", "mallory")
    assert stack.api("POST", f"/approvals/{approval_id}", {"decision": "approve"},
                     session=outsider).status == 403  # fmt: skip
    decided = stack.api("POST", f"/approvals/{approval_id}", {"decision": "approve"},
                        session=approver)  # fmt: skip
    assert decided.status == 200, decided
    assert decided.body["status"] == "approved"
    assert decided.body["decided_by"] == bob
    done = _until_done(stack, migration_id, timeout=240)
    assert done["status"] == "SUCCEEDED", done
    assert done["approval"]["status"] == "approved"
    assert done["changes"]["progress"] == 1.0
    # A second decision on a settled approval is a conflict, an unknown one is not found
    late = stack.api("POST", f"/approvals/{approval_id}", {"decision": "reject"},
                     session=approver)  # fmt: skip
    assert late.status == 409
    assert stack.api("POST", "/approvals/abcdef123456", {"decision": "reject"}).status == 404


def test_bad_input_is_a_400_that_names_the_field(stack: Stack) -> None:
    cases: list[tuple[str, str, Any, str]] = [
        ("POST", "/plans", {"region": SMALL.region}, "body.cluster"),
        ("POST", "/plans", {**TARGET, "region": "mars-1"}, "body.region"),
        ("POST", "/plans", {**TARGET, "surprise": 1}, "body.surprise"),
        ("POST", "/plans", {**TARGET, "mode": "apply"}, "body.mode"),
        ("POST", "/migrations", {**TARGET, "mode": "apply"}, "body.client_token"),
        ("POST", "/migrations", {**TARGET, "client_token": "short"}, "body.client_token"),
        ("POST", "/migrations",
         {**TARGET, "client_token": "token-0001", "approval": {"requested_by":
          "arn:aws:iam::123456789012:role/x"}}, "body.approval.requested_by"),
        ("POST", "/migrations", {**TARGET, "client_token": "token-0002", "wave_id": "w1"},
         "body.wave_id"),
        ("POST", "/migrations", {**TARGET, "client_token": "token-0003",
                                 "approval": {"preapproved_plan_hash": "a" * 64}},
         "body.approval.preapproved_plan_hash"),
        ("POST", "/approvals/NOT-AN-ID", {"decision": "approve"}, "path.approval_id"),
        ("POST", "/approvals/abcdef123456", {"decision": "maybe"}, "body.decision"),
        ("GET", "/migrations/has%20space", None, "path.migration_id"),
    ]  # fmt: skip
    for method, path, body, field in cases:
        answer = stack.api(method, path, body)
        assert answer.status == 400, (path, body, answer)
        assert field in answer.body["message"], (field, answer.body)
    # A body that is not JSON at all
    garbage = stack.api("POST", "/plans", b"{not json")
    assert garbage.status == 400, garbage
