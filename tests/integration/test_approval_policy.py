"""The platform's approval policy from outside (issue 26, item 1): requests through the embedded
API Gateway signed as chosen role sessions, and a run started straight on the state machine as
the CLI starts one. Each test is an attack that succeeded before the policy existed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.deploy import SANDBOX_APPROVAL_POLICY, store_approval_policy
from local.seed import ESTATES, seed, target_session
from tests.integration.conftest import Stack

SMALL = ESTATES["small"]
TARGET = {"cluster": SMALL.cluster, "account_id": SMALL.account_id, "region": SMALL.region}


@pytest.fixture
def strict(stack: Stack) -> Iterator[dict[str, Any]]:
    """The platform team's policy: platform-leads approve, nobody goes without approval."""
    account = stack.deployment.account_id
    me = stack.session.client("sts").get_caller_identity()["Arn"]
    policy = {
        "default": {"approvers": [f"arn:aws:iam::{account}:role/platform-leads"]},
        "break_glass": [f"arn:aws:iam::{account}:role/break-glass"],
        "scopes": [
            {"principals": [f"arn:aws:iam::{account}:role/intern"], "accounts": ["222222222222"]},
            {"principals": [me, f"arn:aws:iam::{account}:role/break-glass"], "accounts": ["*"]},
        ],
    }
    store_approval_policy(stack.session, stack.deployment.stack_name, policy)
    yield policy
    store_approval_policy(stack.session, stack.deployment.stack_name, SANDBOX_APPROVAL_POLICY)


def _executions(stack: Stack) -> int:
    sfn = stack.session.client("stepfunctions")
    return len(sfn.list_executions(stateMachineArn=stack.machine)["executions"])


@pytest.mark.parametrize(
    ("approval", "why"),
    [
        ({"mode": "none"}, "requires approval for account 222222222222"),
        ({"approvers": ["{eve}"], "allow_self_approval": True}, "does not allow self-approval"),
        ({"approvers": ["arn:aws:iam::{account}:role/intern"]}, "is not an approver of"),
    ],
    ids=["no-approval", "self-approval", "own-approver"],
)
def test_an_api_caller_cannot_write_the_approval_policy_of_their_run(
    stack: Stack, strict: dict[str, Any], approval: dict[str, Any], why: str
) -> None:
    # Given eve, a session of a role on no allow-list
    eve = stack.as_role("intern", "eve")
    arn = eve.client("sts").get_caller_identity()["Arn"]
    named = json.loads(
        json.dumps(approval).replace("{eve}", arn).replace("{account}", stack.deployment.account_id)
    )
    before = _executions(stack)
    # When she asks to apply with an approval policy of her own
    body = {**TARGET, "mode": "apply", "client_token": "eve-apply-001", "approval": named}
    answer = stack.api("POST", "/migrations", body, session=eve)
    # Then the API refuses, says why, and starts nothing
    assert answer.status == 403, answer
    assert why in answer.body["message"]
    assert _executions(stack) == before


def test_a_run_started_on_the_state_machine_meets_the_same_policy(
    stack: Stack, strict: dict[str, Any]
) -> None:
    # Given the estate, and a request without approval started as the CLI starts one
    estate = seed(SMALL, stack.session)
    execution = stack.start({**TARGET, "mode": "apply", "approval": {"mode": "none"}}, "eve-cli")
    # Then preflight blocks it on the platform's policy, before any change
    description = stack.wait(execution)
    assert description["status"] == "FAILED"
    assert description.get("error") == "BlockedError", description
    assert "VpcDualStack" not in stack.entered(execution)
    ec2 = target_session(SMALL.region, base=stack.session).client("ec2")
    vpc = ec2.describe_vpcs(VpcIds=[estate["vpc_id"]])["Vpcs"][0]
    assert not vpc.get("Ipv6CidrBlockAssociationSet")
    # and its plan says which rule: the blocker preflight returned
    history = stack.session.client("stepfunctions").get_execution_history(
        executionArn=execution, maxResults=1000
    )["events"]
    assert any('"code": "approval-policy"' in json.dumps(json.loads(
        e["taskSucceededEventDetails"]["output"])) for e in history
        if "taskSucceededEventDetails" in e)  # fmt: skip


def test_a_break_glass_run_goes_without_approval_and_is_announced_before_any_change(
    stack: Stack, strict: dict[str, Any]
) -> None:
    from local import faults

    # Given the platform's break-glass role, and a run whose first change will fail (the
    # announcement, not the migration, is the point here)
    seed(SMALL, stack.session)
    glass = stack.as_role("break-glass", "oncall")
    arn = glass.client("sts").get_caller_identity()["Arn"]
    stack.events()  # what earlier runs put on the bus
    faults.arm(fail_at=1)
    try:
        # When it asks through the API for a run without approval
        body = {**TARGET, "mode": "apply", "client_token": "glass-0001",
                "approval": {"mode": "none"}}  # fmt: skip
        started = stack.api("POST", "/migrations", body, session=glass)
        assert started.status == 201, started
        stack.wait(started.body["execution_arn"])
    finally:
        faults.disarm()
    # Then the run went on without approval, and a Break Glass Run event said who and how
    # before the first change was tried
    entered = stack.entered(started.body["execution_arn"])
    assert "Approval" not in entered
    assert "VpcDualStack" in entered
    events = stack.events()
    types = [e["detail-type"] for e in events]
    announced = events[types.index("Break Glass Run")]["detail"]
    assert (announced["requested_by"], announced["mode"]) == (arn, "none")
    assert types.index("Break Glass Run") < types.index("Stage Failed")


def _apply_body(**fields: Any) -> bytes:
    return json.dumps(
        {**TARGET, "mode": "apply", "client_token": "bad-input-01", **fields}
    ).encode()


def _approvers(count: int) -> dict[str, Any]:
    return {"approvers": [f"arn:aws:iam::111111111111:role/r{n}" for n in range(count)]}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[" * 5000 + b"]" * 5000, 400),
        (_apply_body(pad="x" * 5_000_000), 413),
        (_apply_body(approval=_approvers(100_000)), 413),
        (_apply_body(approval=_approvers(21)), 400),
    ],
    ids=["not-json", "nested-5000", "5-MB", "100k-approvers", "21-approvers"],
)
def test_bad_input_gets_a_4xx_never_a_5xx(stack: Stack, body: bytes, status: int) -> None:
    # Attack (issue 26, item 6): these were accepted (201) or failed the function (502)
    answer = stack.api("POST", "/migrations", body)
    assert answer.status == status, answer
    assert isinstance(answer.body, dict), answer
    assert answer.body.get("message"), answer


def test_an_absurd_slack_timestamp_is_a_401_not_a_502(stack: Stack) -> None:
    answer = stack.api(
        "POST", "/chat/slack/actions", b"payload=%7B%7D", sign=False,
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=00"},
    )  # fmt: skip
    assert answer.status == 401, answer


def test_a_wave_cannot_approve_itself_where_the_platform_forbids_it(
    stack: Stack, strict: dict[str, Any]
) -> None:
    # Attack (issue 26): a wave's author named themself approver with self-approval (or asked
    # for none) and the wave's approval, which every cluster's run then goes by, was theirs
    from tests.integration.test_waves import _start, _wave

    for name, approval in (("wave-self", {"allow_self_approval": True}),
                           ("wave-none", {"mode": "none"})):  # fmt: skip
        wave = _wave(stack)
        execution = _start(stack, {**wave, "approval": {**wave["approval"], **approval}}, name)
        # Then the wave ends before any cluster's run, saying why
        description = stack.wait(execution)
        assert description["status"] == "FAILED", description
        assert "platform's approval policy" in str(description.get("cause")), description
        assert "Migrate" not in stack.entered(execution)


def test_a_caller_acts_only_on_the_accounts_the_platform_gives_them(
    stack: Stack, strict: dict[str, Any]
) -> None:
    # Attack (issue 26, item 4): any API caller could plan any account (and read its network)
    # and read any run
    seed(SMALL, stack.session)
    eve = stack.as_role("intern", "eve")
    elsewhere = {**TARGET, "account_id": "333333333333", "client_token": "eve-elsewhere-1"}
    for path, body in (("/plans", elsewhere), ("/migrations", {**elsewhere, "mode": "plan"})):
        answer = stack.api("POST", path, body, session=eve)
        assert answer.status == 403, answer
        assert "may not" in answer.body["message"]
        assert "333333333333" in answer.body["message"]
    # and someone outside every scope reads no run
    started = stack.api("POST", "/plans", TARGET, session=eve)
    assert started.status == 201, started
    mallory = stack.as_role("developers", "mallory")
    read = stack.api("GET", f"/migrations/{started.body['migration_id']}", session=mallory)
    assert read.status == 403, read
    assert (
        stack.api("GET", f"/migrations/{started.body['migration_id']}", session=eve).status == 200
    )


def test_a_wave_is_read_and_steered_only_by_callers_scoped_to_all_its_accounts(
    stack: Stack, strict: dict[str, Any]
) -> None:
    # Attack (issue 26, item 4): any API caller could pause or abort any wave, and read it
    from tests.integration.test_waves import _estates, _wave

    _estates(stack, blocked=False)  # clusters in 222222222222 and 333333333333
    wave = {**_wave(stack), "approval": {}}  # the platform's approvers
    eve = stack.as_role("intern", "eve")  # scoped to 222222222222 only
    # Nor may she start it, schedule it, or delete another team's schedule by leaving it out
    body = {"wave": wave, "client_token": "wave-scoped"}
    scheduled = {**wave, "schedule": {"expression": "cron(0 9 ? * TUE *)"}}
    for method, path, sent in (("POST", "/waves", body),
                               ("PUT", "/waves/schedules", {"waves": [scheduled]})):  # fmt: skip
        answer = stack.api(method, path, sent, session=eve)
        assert answer.status == 403, answer
        assert "333333333333" in answer.body["message"]
    assert stack.api("PUT", "/waves/schedules", {"waves": [scheduled]}).status == 200
    answer = stack.api("PUT", "/waves/schedules", {"waves": []}, session=eve)
    assert answer.status == 403, answer
    group = f"{stack.deployment.stack_name}-waves"
    assert stack.session.client("scheduler").list_schedules(GroupName=group)["Schedules"]
    started = stack.api("POST", "/waves", body)
    assert started.status == 201, started
    run = started.body["run_id"]
    stack.approval_id(run)  # resolved: it waits for its approvers
    for method, path in (("POST", f"/waves/{run}/abort"), ("GET", f"/waves/{run}")):
        answer = stack.api(method, path, {} if method == "POST" else None, session=eve)
        assert answer.status == 403, answer
        assert "333333333333" in answer.body["message"]
    # the caller scoped to every account may
    assert stack.api("GET", f"/waves/{run}").status == 200
    assert stack.api("POST", f"/waves/{run}/abort", {}).status == 200
    stack.session.client("stepfunctions").stop_execution(executionArn=started.body["execution_arn"])
