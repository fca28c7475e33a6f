"""Least privilege, checked: every AWS action a function called with its own role is granted by
its policy, every one it called through the target role is granted by that role, the functions
call nothing in a cluster's account with their own role (not even in the tooling account, where
the target role is deployed too), and no policy grants `*` actions."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path
from typing import Any

import pytest

from local import faults, runtime
from local.seed import ESTATES, seed
from local.template import load
from tests.integration.conftest import Stack
from tooling.cli import decide

ROOT = Path(__file__).resolve().parents[2]
SMALL = ESTATES["small"]
# what a function calls with its own role: the ledger, the external id, the target role (and
# for the wave function: the runs it reads back, the organisation's units)
TOOLING_SERVICES = ("sts:", "dynamodb:", "ssm:", "states:", "organizations:")
# "No permissions are required to perform this operation" (STS API reference,
# GetCallerIdentity): the functions read their own account and partition with it
NEEDS_NO_GRANT = {"sts:GetCallerIdentity"}


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        if "Fn::If" in statement:  # granted where its condition holds (a secret is named)
            statement = statement["Fn::If"][1]
        actions = statement["Action"]
        found.update([actions] if isinstance(actions, str) else actions)
    return found


def _function_policies() -> dict[str, set[str]]:
    """Each function's actions: its inline statements and the managed policies it names."""
    resources = load(ROOT / "template.yaml")["Resources"]

    def statements(policy: Any) -> list[dict[str, Any]]:
        if isinstance(policy, dict) and "Ref" in policy:
            return list(resources[policy["Ref"]]["Properties"]["PolicyDocument"]["Statement"])
        return list(policy.get("Statement", [])) if isinstance(policy, dict) else []

    return {
        logical: _actions([s for p in r["Properties"].get("Policies", []) for s in statements(p)])
        for logical, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def _target_role() -> set[str]:
    """The target role's actions: its own policies and the reads it shares with the read-only
    role (ReadPolicy)."""
    resources = load(ROOT / "target-account-role.yaml")["Resources"]
    role = resources["TargetRole"]["Properties"]
    shared = resources["ReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    return _actions(
        [*shared, *(s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"])]
    )


def test_no_policy_grants_every_action() -> None:
    assert _function_policies()["PreflightFunction"]  # the managed policy is resolved
    for logical, actions in {**_function_policies(), "TargetRole": _target_role()}.items():
        assert not [a for a in actions if a == "*" or a.endswith(":*")], logical


@pytest.fixture
def recorded(stack: Stack) -> dict[str, set[str]]:
    """Run the whole workflow once well and once failing (so Rollback runs too)."""
    runtime.calls_by_function.clear()
    runtime.calls_through_assumed_roles.clear()
    seed(SMALL, stack.session)
    request = {"cluster": SMALL.cluster, "account_id": SMALL.account_id,
               "region": SMALL.region, "mode": "apply", "approval": {"mode": "none"}}  # fmt: skip
    assert stack.run({**request, "mode": "plan"}, name="lp-plan")["status"] == "SUCCEEDED"
    faults.arm(fail_at=29)
    try:
        assert stack.run(request, name="lp-fail")["status"] == "FAILED"
    finally:
        faults.disarm()
    # The last run waits for its plan's approval: the approval function's calls are recorded
    me = stack.session.client("sts").get_caller_identity()["Arn"]
    approved = {**request, "approval": {"approvers": [me]}}
    execution = stack.start(approved, "lp-apply")
    decide(stack.session, stack.deployment.stack_name, stack.approval_id("lp-apply"), "approve")
    assert stack.wait(execution)["status"] == "SUCCEEDED"
    # Through the REST API: a run started, read, and rejected (the api function's calls)
    body = {**approved, "client_token": "least-privilege",
            "approval": {"approvers": [me], "allow_self_approval": True}}  # fmt: skip
    started = stack.api("POST", "/migrations", body)
    assert started.status == 201, started
    rejected = stack.api(
        "POST", f"/approvals/{stack.approval_id(started.body['migration_id'])}",
        {"decision": "reject"},
    )  # fmt: skip
    assert rejected.status == 200, rejected
    assert stack.wait(started.body["execution_arn"])["status"] == "FAILED"
    assert stack.api("GET", f"/migrations/{started.body['migration_id']}").status == 200
    # From Amazon Q: a custom action's message on the chat decision queue, from an approver role
    from tests.integration.test_amazon_q import _channel, _role

    leads = _role(stack, "lp-oncall-leads")
    queued = stack.start({**request, "approval": {"approvers": [leads]}}, "lp-amazon-q")
    _channel(stack, "lp-oncall-leads").client("sqs").send_message(
        QueueUrl=stack.deployment.outputs["ChatDecisionQueueUrl"],
        MessageBody=f"approve {stack.approval_id('lp-amazon-q')}",
    )
    assert stack.wait(queued)["status"] == "SUCCEEDED"
    # A wave (frozen now: it resolves, plans and reports, and starts nothing)
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    wave = {"id": "lp", "regions": [SMALL.region],
            "targets": {"accounts": [SMALL.account_id], "clusters": [SMALL.cluster]},
            "freeze": [{"start": (now - datetime.timedelta(hours=1)).isoformat(),
                        "end": (now + datetime.timedelta(hours=1)).isoformat()}]}  # fmt: skip
    sfn = stack.session.client("stepfunctions")
    frozen = stack.api("POST", "/waves", {"wave": wave, "client_token": "least-privilege"})
    assert frozen.status == 201, frozen
    assert stack.wait(frozen.body["execution_arn"])["error"] == "frozen"
    assert stack.api("GET", f"/waves/{frozen.body['run_id']}").status == 200
    # Its schedule kept through the API: made, then deleted (the api function's scheduler calls)
    scheduled = {**wave, "schedule": {"expression": "cron(0 9 ? * TUE *)"}}
    for waves in ([scheduled], []):
        kept = stack.api("PUT", "/waves/schedules", {"waves": waves})
        assert kept.status == 200, kept
    # A wave that runs a cluster: paused, its Map Run changed through the API, resumed, its
    # ramp raised (the gate's, the ramp's and the API's Map Run calls), rechecked after its bake
    other = SMALL.model_copy(update={"cluster": "lp-waved", "vpc_cidr": "10.31.0.0/16"})
    seed(other, stack.session)
    runs = {**wave, "id": "lp-run", "freeze": [], "max_concurrency": 2, "bake_minutes": 1,
            "targets": {"accounts": [SMALL.account_id], "clusters": [other.cluster]},
            "approval": {"approvers": [me], "allow_self_approval": True}}  # fmt: skip
    running = sfn.start_execution(
        stateMachineArn=stack.deployment.state_machines["WaveStateMachine"], name="lp-run",
        input=json.dumps({"wave": runs}),
    )["executionArn"]  # fmt: skip
    assert stack.api("POST", "/waves/lp-run/pause", {}).status == 200
    decide(stack.session, stack.deployment.stack_name, stack.approval_id("lp-run"), "approve")
    for _ in range(200):
        if stack.api("GET", "/waves/lp-run").body["map_run"]:
            break
        time.sleep(0.1)
    assert stack.api("PATCH", "/waves/lp-run", {"tolerated_failure_count": 1}).status == 200
    assert stack.api("POST", "/waves/lp-run/resume", {}).status == 200
    assert stack.wait(running)["status"] == "SUCCEEDED"
    prefix = f"{stack.deployment.stack_name}-"
    return {
        name.removeprefix(prefix): (calls, runtime.calls_through_assumed_roles.get(name, set()))
        for name, calls in runtime.calls_by_function.items()
    }


def test_every_call_a_function_makes_is_granted(
    recorded: dict[str, tuple[set[str], set[str]]],
) -> None:
    policies = _function_policies()
    role = _target_role()
    assert set(recorded) == {
        "PreflightFunction", "VpcDualStackFunction", "AttachmentsFunction", "RollbackFunction",
        "CniEgressFunction", "NodeRolloutFunction", "ValidateFunction", "approval",
        "ApprovalWorkflowFunction", "ApiFunction", "NotifyFunction", "WaveFunction",
    }  # fmt: skip
    # The approval, api and notify functions act in no target account: the ledger, the runs
    # they start, read and resume, the bus; the notifications topic and the chat webhooks
    for name, logical in (("approval", "ApprovalFunction"), ("ApiFunction", "ApiFunction"),
                          ("ApprovalWorkflowFunction", "ApprovalWorkflowFunction"),
                          ("NotifyFunction", "NotifyFunction")):  # fmt: skip
        own, assumed = recorded.pop(name)
        assert not assumed, name
        assert not own - policies[logical] - NEEDS_NO_GRANT, (name, sorted(own))
        assert {c.split(":")[0] for c in own} <= {
            "dynamodb", "states", "events", "sts", "sns", "secretsmanager", "iam", "ssm",
            "scheduler",
        }  # fmt: skip
    for function, (own, assumed) in recorded.items():
        missing = own - policies[function] - NEEDS_NO_GRANT
        assert not missing, f"{function} calls {sorted(missing)} without a grant"
        estate = {c for c in own if not c.startswith(TOOLING_SERVICES)}
        assert not estate, f"{function} calls {sorted(estate)} with its own role"
        assert assumed, f"{function} never acted through the target role"
        lacking = assumed - role - NEEDS_NO_GRANT
        assert not lacking, f"the target role lacks {sorted(lacking)}"
    # the functions hold no write of their own: sts, the ledger and one parameter (the
    # approval function also resumes its run, announces approvals and reads which role sent a
    # decision from Amazon Q; notify sends notifications and reads the chat webhooks)
    duties = {
        "ApprovalFunction": {"states", "events"},
        "ApprovalWorkflowFunction": {"states", "events", "iam", "sqs"},  # + polling its queue
        # + the Slack signing secret; the waves' schedules, and passing them their role
        "ApiFunction": {"states", "events", "secretsmanager", "scheduler", "iam"},
        "NotifyFunction": {"sns", "secretsmanager"},
        "WaveFunction": {"organizations", "states"},
        "PreflightFunction": {"events"},  # announces a break-glass run
    }
    for function, actions in policies.items():
        allowed = {"sts", "dynamodb", "ssm"} | duties.get(function, set())
        assert {a.split(":")[0] for a in actions} <= allowed, function


def test_a_cluster_in_the_tooling_account_is_reached_through_the_target_role(stack: Stack) -> None:
    # Given a cluster in the account the stack runs in, where the target role is deployed too
    runtime.calls_by_function.clear()
    runtime.calls_through_assumed_roles.clear()
    spec = SMALL.model_copy(update={"account_id": stack.deployment.account_id})
    seed(spec, stack.session)
    # When its migration is planned
    request = {"cluster": spec.cluster, "account_id": spec.account_id, "region": spec.region,
               "mode": "plan"}  # fmt: skip
    assert stack.run(request, name="lp-tooling-account")["status"] == "SUCCEEDED"
    # Then the function read the estate through the target role, and nothing with its own
    name = f"{stack.deployment.stack_name}-PreflightFunction"
    own = runtime.calls_by_function[name]
    assert not {c for c in own if not c.startswith(TOOLING_SERVICES)}, sorted(own)
    assert "eks:DescribeCluster" in runtime.calls_through_assumed_roles[name]
