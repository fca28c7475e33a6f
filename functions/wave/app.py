"""wave: the wave state machine's steps that need code. `resolve` finds the wave's clusters
(accounts and organisational units through AWS Organizations, each Region, names or tags
through the target role) and plans each as a dry run; `freeze` says whether a freeze window
covers now (checked again at each boundary) and, once a held wave is approved, lifts the hold
that a stopped or aborted wave put on the waves after it; `gate`, before each cluster, whether an
operator paused or aborted the wave, and a slot in its account and Region (given back by
`release` once its run ended); `ramp`, after each cluster that succeeded, raises the
Map Run's concurrency to the ramp's next level; `rounds` splits the clusters to check again after
the bake into rounds that keep the wave's limit per account and Region, and `recheck`, before
each of those checks, hands over the request the cluster's run had; `report` writes the wave's
evidence to the ledger and answers it for the Wave Completed event."""

from __future__ import annotations

import datetime
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import aws, runs, waverun, waves
from v6migrate import policy as platform
from v6migrate.apply import default_ledger
from v6migrate.errors import InputError
from v6migrate.observability import entrypoint, logger


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _resolve(event: dict[str, Any]) -> dict[str, Any]:
    started = waves.WaveInput.model_validate(event["input"])
    wave, run_id = started.wave, str(event["run_id"])
    organizations = (
        boto3.client("organizations", config=aws.retries())
        if wave.targets.organizational_units
        else None
    )
    targets = waves.resolve(
        wave,
        organizations,
        lambda account, region: aws.target_clients(account, region, run_id, read_only=True).eks,
    )
    # The wave's approval is the platform's policy for every account it reaches, as each of
    # its runs' is: a wave's author may tighten it, never loosen it. Its requester is the
    # caller its request on record names, never its input's word
    ledger = default_ledger()
    requester = waves.requester_of(ledger, started)
    approval = platform.effective_across(
        platform.platform_policy(), wave.approval.model_copy(update={"requested_by": requester}),
        sorted({target.account_id for target in targets}),
    )  # fmt: skip
    wave = wave.model_copy(update={"approval": approval})
    waves.refuse_unknown_requester(wave, requester)
    held = ledger.waves_hold()
    if held and wave.approval.mode == "none" and not wave.approval.approvers:
        raise InputError(
            f"waves are held since wave {held['wave_id']} (run {held['run_id']}) ended "
            f"{held['status']}: wave {wave.id} names no approvers to let them go on"
        )
    planned = waves.plan_all(wave, targets, run_id)
    answer = waves.targets_output(wave, run_id, planned, requester, wave.frozen_at(_now()), held)
    for name, request in waves.child_requests(wave, run_id, planned, requester).items():
        ledger.note(run_id, f"item-{name}", request)  # what the gate hands the item
    kept = {k: v for k, v in answer.items() if k != "items"}
    ledger.note(run_id, "wave", {**kept, "clusters": answer["items"]})
    logger.info("wave resolved", extra={"wave_id": wave.id, "clusters": len(targets),
                                        "to_start": answer["count"]})  # fmt: skip
    return answer


def _child_run(sfn: Any, name: str) -> dict[str, Any] | None:
    """DescribeExecution of the wave's child migration `name`, or None if it never started."""
    machine = aws.settings().state_machine_arn
    if not machine:
        raise InputError("V6MIGRATE_STATE_MACHINE_ARN is not set")
    return runs.described(sfn, runs.execution_arn(machine, name))


def _report(event: dict[str, Any]) -> dict[str, Any]:
    wave = waves.WaveInput.model_validate(event["input"]).wave
    run_id = str(event["run_id"])
    targets = event["targets"]
    # one DescribeExecution per cluster in a row, against one bucket: paced (bench/report_reads)
    sfn = boto3.client("stepfunctions", config=aws.retries("adaptive"))
    children = [_child_run(sfn, str(item["name"])) for item in targets.get("items", [])]
    ledger = default_ledger()
    control = waves.control_of(ledger, run_id)
    rechecks = (
        [ledger.read_note(str(item["name"]), "recheck") for item in targets.get("items", [])]
        if event.get("rechecked")
        else None
    )
    rollbacks = [  # what each run that did not succeed undid, as its compensation noted it
        ledger.read_note(str(item["name"]), "rollback")
        if run is not None and run["status"] != "SUCCEEDED"
        else None
        for item, run in zip(targets.get("items", []), children, strict=True)
    ]
    evidence = waves.report(
        wave, run_id, targets, children, event.get("failure"), event.get("approval"), control,
        rechecks, rollbacks,
    )  # fmt: skip
    for cluster in evidence["clusters"]:  # in full, a record each (DynamoDB's 400 KB an item)
        ledger.note(run_id, f"report-{cluster['execution']}", cluster)
    compact = waves.compact(evidence)
    ledger.note(run_id, "wave-report", compact)
    if waves.holds_later_waves(evidence):
        ledger.hold_waves({"wave_id": wave.id, "run_id": run_id, "status": evidence["status"],
                           "at": _now().isoformat()})  # fmt: skip
        logger.warning("later waves held", extra={"wave_id": wave.id, "run_id": run_id})
    logger.info("wave reported", extra={"wave_id": wave.id, "status": evidence["status"]})
    return compact


def _gate(event: dict[str, Any]) -> dict[str, Any]:
    """Whether this cluster may start now: not if the wave is paused or aborted, nor while its
    account and Region already run as many of the wave's clusters as the wave allows (a slot
    is taken here and given back once its run ended)."""
    ledger, run_id = default_ledger(), str(event["run_id"])
    control = waves.control_of(ledger, run_id)
    verdict: dict[str, Any] = waves.gate(control)
    limit, name = event.get("per_account_region"), event.get("name")
    go = not verdict["aborted"] and not verdict["paused"]
    if go and limit:
        key = waves.slot_key(event["account_id"], event["region"])
        go = ledger.acquire_slot(run_id, key, str(name), int(limit))
        verdict = waves.gate(control, go)
    verdict["request"] = None  # the state machine reads the field whatever the verdict
    if go and name:  # the request the wave's approvers approved, kept when the wave was resolved
        request = ledger.read_note(run_id, f"item-{name}")
        if request is None:
            raise InputError(f"wave run {run_id} kept no request for {name}")
        verdict["request"] = request
        # The run's proof that this wave's approvers approved its plan: a run started by
        # anyone else with a preapproved_plan_hash finds none (approval.granted)
        preapproved = (request.get("approval") or {}).get("preapproved_plan_hash")
        if preapproved:
            ledger.note(str(name), "preapproval", {"run_id": run_id, "plan_hash": preapproved})
    return verdict


def _recheck(event: dict[str, Any]) -> dict[str, Any]:
    """Before a cluster's probes run again after the bake: whether its migration succeeded
    (only those are checked again), and the request it ran with. After a recheck that could not
    run (the lock held by another run, the cluster unreachable): that, noted as its result."""
    name = str(event["name"])
    ledger = default_ledger()
    error = event.get("error")
    if error is not None:
        cause = str(error.get("Cause") or "")[:500]
        ledger.note(name, "recheck", {"passed": False, "error": f"{error.get('Error')}: {cause}"})
        return {"noted": True}
    run = _child_run(boto3.client("stepfunctions", config=aws.retries()), name)
    if run is None or run["status"] != "SUCCEEDED":
        return {"go": False, "request": None}
    request = ledger.read_note(str(event["run_id"]), f"item-{name}")
    if request is None:
        raise InputError(f"wave run {event['run_id']} kept no request for {name}")
    return {"go": True, "request": request}


def _rounds(event: dict[str, Any]) -> dict[str, Any]:
    """The rounds in which the wave's clusters are checked again after the bake: their numbers,
    or with `round`, the run names in that one. Read from the wave's ledger note, so the state
    carries numbers and one round's names, not the wave's clusters a second time (256 KiB)."""
    run_id = str(event["run_id"])
    kept = default_ledger().read_note(run_id, "wave")
    if kept is None:
        raise InputError(f"wave run {run_id} kept no record of its clusters")
    limit = kept.get("max_concurrency_per_account_region")
    rounds = waves.recheck_rounds(list(kept.get("clusters") or []), int(limit) if limit else None)
    which = event.get("round")
    if which is None:
        return {"rounds": list(range(len(rounds)))}
    return {"names": rounds[int(which)]}


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, dict) else None
    if action == "resolve":
        return _resolve(event)
    if action == "freeze":
        wave = waves.WaveInput.model_validate(event["input"]).wave
        held = event.get("held")
        if held:  # approved with the hold shown: the waves go on
            default_ledger().release_waves(str(held["run_id"]))
        window = wave.frozen_at(_now())
        return {"frozen": window.model_dump(mode="json") if window else None}
    if action == "report":
        return _report(event)
    if action == "gate":
        return _gate(event)
    if action == "recheck":
        return _recheck(event)
    if action == "rounds":
        return _rounds(event)
    if action == "release":
        limit = event.get("per_account_region")
        if limit:
            default_ledger().release_slot(
                str(event["run_id"]), waves.slot_key(event["account_id"], event["region"]),
                str(event["name"]),
            )  # fmt: skip
        return {"released": bool(limit)}
    if action == "ramp":
        sfn = boto3.client("stepfunctions", config=aws.retries())
        return waverun.ramp(sfn, default_ledger(), str(event["wave_execution"]),
                            str(event["run_id"]), int(event["ceiling"]))  # fmt: skip
    raise InputError(
        'expected {"action": "resolve" | "freeze" | "gate" | "release" | "ramp" | "recheck" | '
        '"rounds" | "report", ...}'
    )
