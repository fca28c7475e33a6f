"""The state machines' structure, checked statically (cfn-lint does not read SAM definitions)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.template import load

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load(ROOT / "template.yaml")
MACHINES = {
    logical: resource["Properties"]
    for logical, resource in TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::StateMachine"
}
EVENT_FIELDS = {"migration_id", "wave_id", "account_id", "region", "cluster", "stage"}


def _definition(properties: dict[str, Any]) -> dict[str, Any]:
    return json.loads((ROOT / properties["DefinitionUri"]).read_text())


def _states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from _states(branch)
        if "ItemProcessor" in state:
            yield from _states(state["ItemProcessor"])


def _targets(state: dict[str, Any]) -> list[str]:
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [catch["Next"] for catch in state.get("Catch", [])]
    return found


CASES = [pytest.param(logical, id=logical) for logical in MACHINES]


def test_there_is_a_migration_state_machine() -> None:
    assert "MigrationStateMachine" in MACHINES


def _scopes(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The state machine and each of its branches and item processors: a Next names a state of
    its own scope."""
    yield definition
    for state in definition["States"].values():
        for branch in state.get("Branches", []):
            yield from _scopes(branch)
        if "ItemProcessor" in state:
            yield from _scopes(state["ItemProcessor"])


@pytest.mark.parametrize("logical", CASES)
def test_every_next_names_a_state(logical: str) -> None:
    for scope in _scopes(_definition(MACHINES[logical])):
        names = set(scope["States"])
        missing = {(n, t) for n, s in scope["States"].items() for t in _targets(s)
                   if t not in names}  # fmt: skip
        assert missing == set()


@pytest.mark.parametrize("logical", CASES)
def test_every_state_is_reachable(logical: str) -> None:
    for scope in _scopes(_definition(MACHINES[logical])):
        assert set(scope["States"]) - _reachable(scope["States"], scope["StartAt"]) == set()


@pytest.mark.parametrize("logical", CASES)
def test_every_task_has_retry_and_catch_all(logical: str) -> None:
    for name, state in _states(_definition(MACHINES[logical])):
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), f"{name} has no Retry"
        catches = [e for c in state.get("Catch", []) for e in c["ErrorEquals"]]
        assert "States.ALL" in catches, f"{name} does not catch States.ALL"


def _reachable(states: dict[str, Any], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(_targets(states[current]))
    return seen


@pytest.mark.parametrize("logical", CASES)
def test_every_failure_path_ends_in_a_fail_state(logical: str) -> None:
    # A Catch that records the run's error ($.error) must end the execution failed; only
    # bookkeeping after success (lock release, the success event, a wave's ramp after a
    # cluster succeeded, its slot given back, the abort check before the bake) may carry on,
    # and a recheck after the bake that could not run: the report counts it as failed, and
    # the wave ends `bake-failed`.
    for scope in _scopes(_definition(MACHINES[logical])):
        states = scope["States"]
        for name, state in states.items():
            for catch in state.get("Catch", []):
                if catch.get("ResultPath") in (
                    "$.lock_error",
                    "$.event_error",
                    "$.ramp_error",
                    "$.slot_error",
                    "$.recheck_error",
                ):
                    continue
                seen = _reachable(states, catch["Next"])
                assert any(states[s]["Type"] == "Fail" for s in seen), f"{name}'s Catch never fails"


def test_compensation_is_reachable_from_every_stage_and_only_after_changes_can_exist() -> None:
    states = _definition(MACHINES["MigrationStateMachine"])["States"]
    # Every stage that may have changed something, including the poll loops' tasks and a
    # validation that ran but failed, ends in compensation.
    for stage in ("VpcDualStack", "Attachments", "CniEgress", "NodeRollout", "Validate"):
        catches = states[stage]["Catch"]
        assert catches, stage
        for catch in catches:
            assert "Rollback" in _reachable(states, catch["Next"]), stage
    failed_validation = [c["Next"] for c in states["Validated?"]["Choices"]]
    failed_validation.append(states["Validated?"].get("Default", ""))
    assert any("Rollback" in _reachable(states, n) and n != "ValidateSucceeded"
               for n in failed_validation if n)  # fmt: skip
    [preflight_catch] = states["Preflight"]["Catch"]
    assert "Rollback" not in _reachable(states, preflight_catch["Next"])


@pytest.mark.parametrize("logical", CASES)
def test_every_substitution_is_defined_and_used(logical: str) -> None:
    properties = MACHINES[logical]
    text = (ROOT / properties["DefinitionUri"]).read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text))
    defined = set(properties.get("DefinitionSubstitutions", {}))
    assert used == defined


@pytest.mark.parametrize("logical", CASES)
def test_stage_events_go_to_the_v6migrate_bus_with_the_common_fields(logical: str) -> None:
    for name, state in _states(_definition(MACHINES[logical])):
        if state.get("Resource") != "arn:aws:states:::events:putEvents":
            continue
        for entry in state["Parameters"]["Entries"]:
            assert entry["Source"] == "v6migrate", name
            assert entry["EventBusName"] == "${EventBusName}", name
            fields = {key.removesuffix(".$") for key in entry["Detail"]}
            assert fields >= EVENT_FIELDS, f"{name} lacks {EVENT_FIELDS - fields}"


@pytest.mark.parametrize("logical", CASES)
def test_lambda_tasks_retry_transient_and_lambda_service_errors(logical: str) -> None:
    for name, state in _states(_definition(MACHINES[logical])):
        if state.get("Resource") != "arn:aws:states:::lambda:invoke":
            continue
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert {"TransientError", "Lambda.ServiceException",
                "Lambda.TooManyRequestsException"} <= retried, name  # fmt: skip


def test_dry_run_returns_the_plan_without_reaching_a_mutating_state() -> None:
    states = _definition(MACHINES["MigrationStateMachine"])["States"]
    choice = next(s for s in states.values() if s["Type"] == "Choice")
    plan_branch = next(c for c in choice["Choices"] if c.get("StringEquals") == "plan")
    assert states[plan_branch["Next"]] == {
        "Type": "Succeed",
        "Comment": states[plan_branch["Next"]].get("Comment"),
        "OutputPath": "$.preflight.plan",
    }


def test_state_machine_is_standard_with_logging_and_tracing() -> None:
    properties = MACHINES["MigrationStateMachine"]
    assert properties["Type"] == "STANDARD"
    assert properties["Tracing"] == {"Enabled": True}
    assert properties["Logging"]["Level"] == "ALL"


@pytest.mark.parametrize("logical", CASES)
def test_every_event_detail_is_what_docs_events_md_documents(logical: str) -> None:
    from v6migrate.events import EVENT_TYPES

    documented = {e.detail_type: e.detail for e in EVENT_TYPES}
    for name, state in _states(_definition(MACHINES[logical])):
        if state.get("Resource") != "arn:aws:states:::events:putEvents":
            continue
        for entry in state["Parameters"]["Entries"]:
            model = documented.get(entry["DetailType"])
            assert model is not None, f"{name}: {entry['DetailType']} is not documented"
            fields = {key.removesuffix(".$") for key in entry["Detail"]}
            known = set(model.model_fields)
            required = {k for k, f in model.model_fields.items() if f.is_required()}
            assert fields <= known, f"{name}: {sorted(fields - known)} not in {model.__name__}"
            assert fields >= required, f"{name}: lacks {sorted(required - fields)}"


def _transient_errors() -> set[str]:
    """Every error class the state machine must retry: TransientError and its subclasses (a
    Lambda error is matched by its class name, never by its base class)."""
    import v6migrate.changes.cluster
    import v6migrate.kube
    from v6migrate.errors import TransientError

    found, todo = set(), [TransientError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    assert v6migrate.changes.cluster.Pending.__name__ in found
    return found


@pytest.mark.parametrize("logical", CASES)
def test_lambda_tasks_retry_every_transient_error_by_its_own_name(logical: str) -> None:
    transient = _transient_errors()
    for name, state in _states(_definition(MACHINES[logical])):
        if state.get("Resource") != "arn:aws:states:::lambda:invoke":
            continue
        retried = {e for retry in state.get("Retry", []) for e in retry["ErrorEquals"]}
        assert transient <= retried, f"{name} does not retry {sorted(transient - retried)}"
