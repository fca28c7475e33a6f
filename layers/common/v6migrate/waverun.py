"""A running wave: where it stands, and what operators (and its ramp) may change while it runs
(issue 11, items 3 and 5).

A wave run is one execution of the wave state machine; its name is the run id, the ledger's
key for the wave's notes, its evidence and its control record. Its clusters run as the items
of one Distributed Map, whose Map Run is found with ListMapRuns and changed with UpdateMapRun.

Brakes are for anyone the API lets in: `pause` (no cluster starts until `resume`) and `abort`
(no other cluster starts; those running finish and compensate as they would). What speeds a
wave up or lets it go on (`resume`, a new concurrency or tolerance) is for the wave's own
approvers. Every action is kept in the ledger before it takes effect.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Literal

from botocore.exceptions import ClientError

from v6migrate import approval, runs, waves
from v6migrate.errors import ConflictError, NotFoundError, translate

Action = Literal["pause", "resume", "abort", "update"]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def map_run(sfn: Any, execution_arn: str) -> dict[str, Any] | None:
    """The wave's Map Run (DescribeMapRun): the one still running, else the latest; None
    before the wave has started its clusters."""
    found: list[dict[str, Any]] = []
    try:
        for page in sfn.get_paginator("list_map_runs").paginate(executionArn=execution_arn):
            found += page.get("mapRuns", [])
        if not found:
            return None
        current = next((m for m in found if not m.get("stopDate")), found[-1])
        return dict(sfn.describe_map_run(mapRunArn=current["mapRunArn"]))
    except ClientError as error:
        raise translate(error, "states:ListMapRuns/DescribeMapRun") from error


def _running(sfn: Any, wave_machine: str, run_id: str) -> tuple[str, waves.WaveSpec]:
    arn = runs.execution_arn(wave_machine, run_id)
    execution = runs.described(sfn, arn)
    if execution is None:
        raise NotFoundError(f"no wave run {run_id}")
    if execution["status"] != "RUNNING":
        raise ConflictError(f"wave run {run_id} has ended ({execution['status']})")
    return arn, waves.WaveInput.model_validate_json(execution["input"]).wave


def control(
    sfn: Any, ledger: Any, wave_machine: str, run_id: str, caller: str, action: Action,
    changes: dict[str, Any] | None = None, reason: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Pause, resume, abort or update a running wave; the control record after it."""
    arn, wave = _running(sfn, wave_machine, run_id)
    speeds_up = action in ("resume", "update") and wave.approval.mode == "required"
    if speeds_up and not approval.is_approver(caller, wave.approval.approvers):
        raise approval.NotAnApprover(
            f"{caller} is not an approver of wave {wave.id}: only they may {action} it"
        )
    kept = waves.control_of(ledger, run_id)
    if kept.aborted and action != "abort":
        raise ConflictError(f"wave run {run_id} was aborted: it starts no other cluster")
    fields: dict[str, Any] = {
        "pause": {"paused": True},
        "resume": {"paused": False},
        "abort": {"aborted": True},
        "update": {k: v for k, v in (changes or {}).items() if v is not None},
    }[action]
    current = None
    if action == "update":
        if not fields:
            raise ConflictError("nothing to update: name max_concurrency or a tolerance")
        current = map_run(sfn, arn)
        if current is None or current.get("status") != "RUNNING":
            raise ConflictError(
                f"wave run {run_id} is not running its clusters: nothing to update yet"
            )
    entry = {"action": action, "by": caller, "at": _now(), **fields}
    if reason:
        entry["reason"] = reason
    ledger.control(run_id, fields, entry)  # kept before the Map Run changes
    if current is not None:
        update = {
            "maxConcurrency": fields.get("max_concurrency"),
            "toleratedFailureCount": fields.get("tolerated_failure_count"),
            "toleratedFailurePercentage": fields.get("tolerated_failure_percentage"),
        }
        try:
            sfn.update_map_run(
                mapRunArn=current["mapRunArn"],
                **{k: v for k, v in update.items() if v is not None},
            )
        except ClientError as error:
            raise translate(error, "states:UpdateMapRun") from error
    return dict(ledger.read_control(run_id))


def ramp(sfn: Any, ledger: Any, execution_arn: str, run_id: str, ceiling: int) -> dict[str, Any]:
    """After a cluster succeeded: raise the Map Run's concurrency to the ramp's next level (1,
    2, 4, ... up to the wave's maximum, or an operator's), never lower it. A failure anywhere
    holds the ramp where it is, as do a pause and an abort."""
    kept = waves.control_of(ledger, run_id)
    current = map_run(sfn, execution_arn)
    if current is None or current.get("status") != "RUNNING":
        return {"changed": False, "why": "no Map Run running"}
    counts = current.get("itemCounts", {})
    at = int(current.get("maxConcurrency", 0))
    if kept.paused or kept.aborted or counts.get("failed") or counts.get("timedOut"):
        return {"changed": False, "max_concurrency": at, "why": "held"}
    # This cluster's item has not ended yet: it is not among the Map Run's succeeded items.
    level = waves.ramp_level(int(counts.get("succeeded", 0)) + 1, kept.max_concurrency or ceiling)
    if not at or level <= at:  # 0: no limit
        return {"changed": False, "max_concurrency": at}
    ledger.control(run_id, {}, {"action": "ramp", "by": "ramp", "at": _now(),
                                "max_concurrency": level})  # fmt: skip
    try:
        sfn.update_map_run(mapRunArn=current["mapRunArn"], maxConcurrency=level)
    except ClientError as error:
        raise translate(error, "states:UpdateMapRun") from error
    return {"changed": True, "max_concurrency": level}


def child_statuses(
    sfn: Any, migration_machine: str, names: set[str], since: datetime.datetime
) -> dict[str, str]:
    """The status of each of the wave's child runs that started, by name, from ListExecutions
    (most recent first, up to 1,000 a page: Step Functions API reference), read back only to
    the wave's own start: a page per thousand runs, not a DescribeExecution per cluster."""
    found: dict[str, str] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=migration_machine):
        for execution in page.get("executions", []):
            if execution["startDate"] < since:
                return found  # older than the wave: none of its runs is further back
            if execution["name"] in names:
                found[execution["name"]] = execution["status"]
        if len(found) == len(names):
            break
    return found


def status(
    sfn: Any, ledger: Any, wave_machine: str, migration_machine: str, run_id: str
) -> dict[str, Any]:
    """Where a wave run stands: the execution, the state it entered last, its Map Run (the
    concurrency and tolerance now, items by outcome), each cluster's run, the operators'
    actions, and its evidence once it reported."""
    arn = runs.execution_arn(wave_machine, run_id)
    execution = runs.described(sfn, arn)
    if execution is None:
        raise NotFoundError(f"no wave run {run_id}")
    wave = waves.WaveInput.model_validate_json(execution["input"]).wave
    resolved = ledger.read_note(run_id, "wave") or {}
    report = ledger.read_note(run_id, "wave-report")
    items = resolved.get("clusters", [])
    if report is not None:  # it ended and reported: the evidence says how each run ended
        statuses = {c["execution"]: c["status"] for c in report.get("clusters", [])}
    else:
        names = {str(item["name"]) for item in items}
        statuses = child_statuses(sfn, migration_machine, names, execution["startDate"])
    clusters = [{**item, "status": statuses.get(item["name"], "NOT_STARTED")} for item in items]
    current = map_run(sfn, arn)
    control_kept = waves.control_of(ledger, run_id)
    answer: dict[str, Any] = {
        "run_id": run_id,
        "wave_id": wave.id,
        "execution_arn": arn,
        "status": execution["status"],
        "stage": runs.last_state(sfn, arn),
        "started_at": runs.iso(execution.get("startDate")),
        "stopped_at": runs.iso(execution.get("stopDate")),
        "paused": control_kept.paused,
        "aborted": control_kept.aborted,
        "map_run": None,
        "clusters": clusters,
        "blocked": resolved.get("blocked", []),
        "actions": list(control_kept.actions),
        "report": report,
    }
    if current is not None:
        answer["map_run"] = {
            "status": current.get("status"),
            "max_concurrency": current.get("maxConcurrency"),
            "tolerated_failure_count": current.get("toleratedFailureCount"),
            "tolerated_failure_percentage": current.get("toleratedFailurePercentage"),
            "item_counts": current.get("itemCounts"),
        }
    if execution["status"] in runs.TERMINAL and execution["status"] != "SUCCEEDED":
        answer["error"] = execution.get("error")
        answer["cause"] = runs.readable_cause(execution.get("cause", ""))
    plain: dict[str, Any] = json.loads(json.dumps(answer, default=str))  # dates as text
    return plain
