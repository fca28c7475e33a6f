"""The most history events one execution of a state machine can write, from its definition.

Step Functions ends an execution whose history reaches 25,000 events (developer guide, Service
quotas), whatever it was doing: a run that ends that way mid-compensation is neither rolled
back nor marked RollbackIncomplete. So each machine's worst case is computed here and held
below the quota (tests/asl/test_history_budget.py):

- each state writes the events Step Functions writes for it (`EVENTS`); a Task's retrier may
  add up to MaxAttempts failed attempts of three events each (scheduled, started, failed);
- a loop (a strongly connected set of states) runs at most its cap plus one times: the cap is
  what its Choice compares a counter with (`NumericGreaterThanPath` of a `$.max_*` path), given
  by the caller (the template's largest allowed value); a loop without one is refused unless it
  is declared in `DECLARED` with its bound and why;
- the worst case is the longest path from the start through loops and Catch branches to an end.

Run: `python -m tooling.asl_budget` prints each machine's worst case and its loops.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v6migrate.waves import MAX_RECHECKED

QUOTA = 25_000

# Events a state writes when it runs once (API reference, HistoryEvent's types): entered and
# exited, and for a Task scheduled, started and succeeded (a callback or a child workflow is
# also submitted); a Distributed Map's items run as child executions with histories of their
# own, so only the map run's start and end count here.
EVENTS = {"Pass": 2, "Choice": 2, "Wait": 2, "Succeed": 2, "Fail": 1, "Parallel": 4}
TASK = 5
CALLBACK_OR_SYNC = 6
DISTRIBUTED_MAP = 6
ATTEMPT = 3  # a retried attempt: TaskScheduled, TaskStarted, TaskFailed
EXECUTION = 2  # ExecutionStarted and the ending

# Loops that no counter caps, with the bound they are counted with and why it holds.
DECLARED: dict[tuple[str, str], tuple[int, str]] = {
    ("migration", "Approval"): (
        10,
        "each lap is a person's approval of a plan that then moved; a run whose plan keeps "
        "moving is rejected long before",
    ),
}


@dataclass
class Budget:
    machine: str
    worst: int
    loops: list[dict[str, Any]] = field(default_factory=list)
    unbounded: list[list[str]] = field(default_factory=list)


def _cost(state: dict[str, Any]) -> int:
    kind = state["Type"]
    if kind == "Task":
        resource = str(state.get("Resource", ""))
        once = CALLBACK_OR_SYNC if resource.endswith((".waitForTaskToken", ".sync", ".sync:2")) \
            else TASK  # fmt: skip
        retries = sum(int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []))
        return once + ATTEMPT * retries
    if kind == "Map":
        processor = state.get("ItemProcessor") or state.get("Iterator") or {}
        if (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED":
            return DISTRIBUTED_MAP
        raise ValueError("an inline Map is counted with its items (`ITEMS`)")
    return EVENTS[kind]


# An inline Map's iterations write into the execution's own history: each Map here, with the
# most items it can take and why.
ITEMS: dict[tuple[str, str], tuple[int, str]] = {
    ("wave", "Recheck"): (
        MAX_RECHECKED,
        "its rounds hold each cluster of a baking wave once, and a baking wave takes at most "
        "MAX_RECHECKED clusters (waves.targets_output): most events when each round holds one",
    ),
    ("wave", "RecheckRound"): (1, "counted as rounds of one cluster each (above)"),
}


def _inline_map(machine: str, name: str, state: dict[str, Any], caps: dict[str, int]) -> int:
    if (machine, name) not in ITEMS:
        raise ValueError(f"{machine}: inline Map {name} has no bound on its items (ITEMS)")
    items = ITEMS[(machine, name)][0]
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    inner = worst_case(machine, processor, caps).worst - EXECUTION
    # entered, started, succeeded, exited; each iteration started and succeeded
    return (
        4
        + items * (2 + inner)
        + ATTEMPT * sum(int(r.get("MaxAttempts", 3)) for r in state.get("Retry", []))
    )


def _distributed(state: dict[str, Any]) -> bool:
    processor = state.get("ItemProcessor") or state.get("Iterator") or {}
    return (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"


def _edges(state: dict[str, Any]) -> list[str]:
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [c["Next"] for c in state.get("Choices", [])]
    found += [c["Next"] for c in state.get("Catch", [])]
    return found


def _components(states: dict[str, Any]) -> list[list[str]]:
    """Tarjan's strongly connected components of the state graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on.add(name)
        for target in _edges(states[name]):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                top = stack.pop()
                on.discard(top)
                component.append(top)
                if top == name:
                    break
            found.append(component)

    sys.setrecursionlimit(max(1000, 4 * len(states)))
    for name in states:
        if name not in index:
            visit(name)
    return found


def _cap(machine: str, states: dict[str, Any], loop: list[str], caps: dict[str, int]) -> int | None:
    for name in loop:
        for choice in states[name].get("Choices", []):
            path = choice.get("NumericGreaterThanPath")
            if path and path in caps:
                return caps[path]
    for name in loop:
        if (machine, name) in DECLARED:
            return DECLARED[(machine, name)][0]
    return None


def worst_case(machine: str, definition: dict[str, Any], caps: dict[str, int]) -> Budget:
    """The most events one execution of `definition` writes, loops run to their caps."""
    states = definition["States"]
    components = _components(states)
    owner = {name: i for i, component in enumerate(components) for name in component}
    budget = Budget(machine, 0)
    weight: list[int] = []
    for component in components:
        cost = sum(
            _inline_map(machine, name, states[name], caps)
            if states[name]["Type"] == "Map" and not _distributed(states[name])
            else _cost(states[name])
            for name in component
        )
        looping = len(component) > 1 or component[0] in _edges(states[component[0]])
        if not looping:
            weight.append(cost)
            continue
        cap = _cap(machine, states, component, caps)
        if cap is None:
            budget.unbounded.append(sorted(component))
            cap = 0
        laps = cap + 1
        budget.loops.append({"states": sorted(component), "laps": laps, "events": cost * laps})
        weight.append(cost * laps)
    # longest path over the components (Tarjan's order is a reverse topological one)
    longest: dict[int, int] = {}
    for i, component in enumerate(components):
        after = {owner[t] for name in component for t in _edges(states[name])} - {i}
        longest[i] = weight[i] + max((longest[j] for j in after), default=0)
    budget.worst = EXECUTION + longest[owner[definition["StartAt"]]]
    return budget


def template_caps(template: dict[str, Any]) -> dict[str, int]:
    """Each `$.max_*` path the machines compare with, at the largest value the template's
    parameters allow (MaxValue; a parameter without one is unbounded and refused)."""
    parameters = template["Parameters"]
    found = {}
    for path, name in (("$.max_polls", "MaxPolls"), ("$.max_rollback_polls", "MaxRollbackPolls"),
                       ("$.max_waits", "MaxGateWaits")):  # fmt: skip
        if name not in parameters:
            continue
        if "MaxValue" not in parameters[name]:
            raise ValueError(f"parameter {name} has no MaxValue: its loops are unbounded")
        found[path] = int(parameters[name]["MaxValue"])
    return found


def main() -> int:
    from local.template import load

    root = Path(__file__).resolve().parents[1]
    template = load(root / "template.yaml")
    caps = template_caps(template)
    worst = 0
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        definition = json.loads((root / resource["Properties"]["DefinitionUri"]).read_text())
        name = Path(resource["Properties"]["DefinitionUri"]).name.split(".")[0]
        machines = [(name, definition)]
        for state in definition["States"].values():
            processor = state.get("ItemProcessor") or {}
            if (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED":
                machines.append((f"{name} item", processor))
        for label, found in machines:
            budget = worst_case(name, found, caps)
            worst = max(worst, budget.worst)
            print(f"{logical} ({label}): at most {budget.worst} events of {QUOTA}")
            for loop in budget.loops:
                print(f"  loop {', '.join(loop['states'])}: {loop['laps']} laps, "
                      f"{loop['events']} events")  # fmt: skip
            for states in budget.unbounded:
                print(f"  UNBOUNDED loop {', '.join(states)}")
    print(f"worst={worst} quota={QUOTA}")
    return 0 if worst < QUOTA else 1


if __name__ == "__main__":
    sys.exit(main())
