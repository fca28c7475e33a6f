"""Least privilege, checked: every AWS action a function called is granted by its policy
(and, for the estate, by the target role), and no policy grants `*` actions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local import faults, runtime
from local.seed import ESTATES, seed
from local.template import load
from tests.integration.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]
SMALL = ESTATES["small"]
TOOLING_SERVICES = ("sts:", "dynamodb:")


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
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
    role = load(ROOT / "target-account-role.yaml")["Resources"]["TargetRole"]["Properties"]
    return _actions([s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]])


def test_no_policy_grants_every_action() -> None:
    assert _function_policies()["PreflightFunction"]  # the managed policy is resolved
    for logical, actions in {**_function_policies(), "TargetRole": _target_role()}.items():
        assert not [a for a in actions if a == "*" or a.endswith(":*")], logical


@pytest.fixture
def recorded(stack: Stack) -> dict[str, set[str]]:
    """Run the whole workflow once well and once failing (so Rollback runs too)."""
    runtime.calls_by_function.clear()
    seed(SMALL, stack.session)
    request = {"cluster": SMALL.cluster, "account_id": SMALL.account_id,
               "region": SMALL.region, "mode": "apply"}  # fmt: skip
    assert stack.run({**request, "mode": "plan"}, name="lp-plan")["status"] == "SUCCEEDED"
    faults.arm(fail_at=29)
    try:
        assert stack.run(request, name="lp-fail")["status"] == "FAILED"
    finally:
        faults.disarm()
    assert stack.run(request, name="lp-apply")["status"] == "SUCCEEDED"
    return {
        name.removeprefix(f"{stack.deployment.stack_name}-"): calls
        for name, calls in runtime.calls_by_function.items()
    }


def test_every_call_a_function_makes_is_granted(recorded: dict[str, set[str]]) -> None:
    policies = _function_policies()
    role = _target_role()
    assert set(recorded) == {
        "PreflightFunction", "VpcDualStackFunction", "AttachmentsFunction", "RollbackFunction",
        "CniEgressFunction", "NodeRolloutFunction", "ValidateFunction",
    }  # fmt: skip
    for function, calls in recorded.items():
        missing = calls - policies[function]
        assert not missing, f"{function} calls {sorted(missing)} without a grant"
        estate_calls = {c for c in calls if not c.startswith(TOOLING_SERVICES)}
        assert not estate_calls - role, f"the target role lacks {sorted(estate_calls - role)}"
