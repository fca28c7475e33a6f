"""No run can reach Step Functions' 25,000 history events (issue 27, item 2): each machine's
worst case, its loops run to the largest caps the template allows and every retry spent, is
below the quota (tooling/asl_budget.py); a loop nothing caps, or a cap the template leaves
unbounded, is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.template import load
from tooling import asl_budget

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load(ROOT / "template.yaml")


def _machines() -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    found = []
    for resource in TEMPLATE["Resources"].values():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        definition = json.loads((ROOT / resource["Properties"]["DefinitionUri"]).read_text())
        name = Path(resource["Properties"]["DefinitionUri"]).name.split(".")[0]
        found.append((name, name, definition))
        for state_name, state in definition["States"].items():
            if asl_budget._distributed(state):  # each item: a child execution of its own
                found.append((name, f"{name} {state_name} item", state["ItemProcessor"]))
    return found


@pytest.mark.parametrize(("machine", "label", "definition"), _machines(),
                         ids=[label for _, label, _ in _machines()])  # fmt: skip
def test_no_execution_can_reach_the_history_quota(
    machine: str,
    label: str,
    definition: dict,  # type: ignore[type-arg]
) -> None:
    budget = asl_budget.worst_case(machine, definition, asl_budget.template_caps(TEMPLATE))
    assert not budget.unbounded, budget.unbounded
    assert budget.worst < asl_budget.QUOTA, (label, budget.worst, budget.loops)


def test_a_loop_without_a_cap_and_a_cap_without_a_bound_are_refused() -> None:
    endless = {"StartAt": "Poll", "States": {
        "Poll": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done?"},
        "Done?": {"Type": "Choice", "Default": "Wait",
                  "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "End"}]},
        "Wait": {"Type": "Wait", "Seconds": 30, "Next": "Poll"},
        "End": {"Type": "Succeed"}}}  # fmt: skip
    assert asl_budget.worst_case("test", endless, {}).unbounded == [["Done?", "Poll", "Wait"]]
    unbounded = {
        **TEMPLATE,
        "Parameters": {
            **TEMPLATE["Parameters"],
            "MaxPolls": {
                k: v for k, v in TEMPLATE["Parameters"]["MaxPolls"].items() if k != "MaxValue"
            },
        },
    }
    with pytest.raises(ValueError, match="MaxPolls has no MaxValue"):
        asl_budget.template_caps(unbounded)


def test_a_poll_loop_costs_what_step_functions_writes_for_it() -> None:
    """Per lap: the Task's five events and three for each retry it may spend, two for each
    Choice, Pass and Wait (API reference, HistoryEvent types)."""
    polls = {"StartAt": "Poll", "States": {
        "Poll": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done?",
                 "Retry": [{"ErrorEquals": ["TransientError"], "MaxAttempts": 4}]},
        "Done?": {"Type": "Choice", "Default": "Count",
                  "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "End"}]},
        "Count": {"Type": "Pass", "Next": "Capped?"},
        "Capped?": {"Type": "Choice", "Default": "Wait", "Choices": [
            {"Variable": "$.n", "NumericGreaterThanPath": "$.max_polls", "Next": "End"}]},
        "Wait": {"Type": "Wait", "Seconds": 30, "Next": "Poll"},
        "End": {"Type": "Succeed"}}}  # fmt: skip
    budget = asl_budget.worst_case("test", polls, {"$.max_polls": 9})
    assert budget.loops == [{"states": ["Capped?", "Count", "Done?", "Poll", "Wait"],
                             "laps": 10, "events": 10 * (5 + 4 * 3 + 2 * 4)}]  # fmt: skip
    assert budget.worst == 2 + 250 + 2  # the execution's two, the loop, Succeed's two


def test_the_node_rollout_waits_what_preflight_derived_from_its_nodes() -> None:
    """The polls are capped for the history; the wait between them comes from the work:
    Preflight (and Replan) get the stack's pacing and answer node_poll_seconds."""
    definition = json.loads((ROOT / "statemachines/migration.asl.json").read_text())
    states = definition["States"]
    assert states["NodeRolloutWait"]["SecondsPath"] == "$.preflight.plan.node_poll_seconds"
    for name in ("Preflight", "Replan"):
        assert states[name]["ResultPath"] == "$.preflight"
        assert states[name]["Parameters"]["Payload"]["pacing"] == {
            "poll_seconds.$": "$.poll_seconds", "max_polls.$": "$.max_polls"}  # fmt: skip
