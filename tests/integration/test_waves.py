"""A wave run (issue 11, item 5) through the deployed wave state machine: its clusters resolved
and planned, one approval for the wave, child migrations bound to the approved plans in a
Distributed Map with the wave's concurrency and tolerance, the HaltWaves alarm and freeze
windows honoured, and the wave's evidence reported."""

from __future__ import annotations

import datetime
import json
import threading
import time
from typing import Any

import pytest

from local import faults
from local.seed import ESTATES, seed, target_session
from tests.integration.conftest import Stack
from v6migrate.journal import Ledger

TAG = {"v6migrate/wave": "canary"}
LEAN = {"transit_gateway": False, "peering": False, "cloud_wan": False, "edges": False}
OTHER_ACCOUNT = "333333333333"


def _estates(stack: Stack, blocked: bool = True, legacy: bool = False) -> dict[str, str]:
    """Three tagged clusters in two accounts (one config-map-only: blocked; or untagged; or,
    with `legacy`, a third to migrate); the VPC of each."""
    base = ESTATES["small"].model_copy(update={**LEAN, "cluster_tags": TAG})
    vpcs = {}
    third = {"authentication_mode": "CONFIG_MAP"} if blocked else {"cluster_tags": {}}
    for account, cluster, cidr, extra in (
        ("222222222222", "orders-prod", "10.20.0.0/16", {}),
        ("222222222222", "legacy-prod", "10.21.0.0/16", {} if legacy else third),
        (OTHER_ACCOUNT, "payments-prod", "10.23.0.0/16", {}),
    ):  # fmt: skip
        spec = base.model_copy(update={"account_id": account, "cluster": cluster,
                                       "vpc_cidr": cidr, **extra})  # fmt: skip
        vpcs[cluster] = seed(spec, stack.session)["vpc_id"]
    return vpcs


def _wave(stack: Stack, **changes: Any) -> dict[str, Any]:
    me = stack.session.client("sts").get_caller_identity()["Arn"]
    return {"id": "canary", "regions": ["eu-west-1"],
            "targets": {"accounts": ["222222222222", OTHER_ACCOUNT], "cluster_tags": TAG},
            "approval": {"approvers": [me], "allow_self_approval": True}, **changes}  # fmt: skip


def _start(stack: Stack, wave: dict[str, Any], name: str) -> str:
    sfn = stack.session.client("stepfunctions")
    arn: str = sfn.start_execution(
        stateMachineArn=stack.deployment.state_machines["WaveStateMachine"], name=name,
        input=json.dumps({"wave": wave}),
    )["executionArn"]  # fmt: skip
    return arn


def _approve(stack: Stack, name: str) -> None:
    from tooling.cli import decide

    decide(stack.session, stack.deployment.stack_name, stack.approval_id(name), "approve")


def _ipv6(stack: Stack, account: str, vpc_id: str) -> list[str]:
    ec2 = target_session("eu-west-1", account, base=stack.session).client("ec2")
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    return [a["Ipv6CidrBlock"] for a in vpc.get("Ipv6CidrBlockAssociationSet", [])]


def _run_with_a_failure(stack: Stack, wave: dict[str, Any], name: str) -> dict[str, Any]:
    """Run the wave, approved once, with the first cluster's run failing on a change."""
    faults.arm(fail_at=3)
    try:
        execution = _start(stack, wave, name)
        _approve(stack, name)
        return stack.wait(execution, timeout=300)
    finally:
        faults.disarm()


def _children(stack: Stack) -> list[dict[str, Any]]:
    sfn = stack.session.client("stepfunctions")
    return list(sfn.list_executions(stateMachineArn=stack.machine)["executions"])


def test_a_wave_migrates_its_clusters_within_its_tolerance_and_reports_them(
    stack: Stack,
) -> None:
    # Given three tagged clusters in two accounts, one blocked, and a wave tolerating one failure
    vpcs = _estates(stack)
    wave = _wave(stack, max_concurrency=1, tolerance={"count": 1})
    # When the wave runs, is approved once, and the first cluster's run fails on a change
    done = _run_with_a_failure(stack, wave, "canary-1")
    # Then the wave ends within its tolerance: one cluster rolled back, one migrated, one blocked
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    report = json.loads(done["output"])
    assert report["status"] == "succeeded-within-tolerance"
    assert report["counts"] == {
        "planned": 3,
        "succeeded": 1,
        "failed": 1,
        "not_started": 0,
        "blocked": 1,
    }
    by_cluster = {c["cluster"]: c for c in report["clusters"]}
    assert by_cluster["orders-prod"]["status"] == "FAILED"
    assert by_cluster["payments-prod"]["status"] == "SUCCEEDED"
    assert report["blocked"][0]["cluster"] == "legacy-prod"
    assert report["approved_by"]
    # And the network says the same: migrated where it succeeded, untouched where blocked
    assert _ipv6(stack, OTHER_ACCOUNT, vpcs["payments-prod"])
    assert not _ipv6(stack, "222222222222", vpcs["legacy-prod"])
    # And no child asked again: each was bound to the plan the wave approved
    children = _children(stack)
    assert len(children) == 2
    for child in children:
        entered = stack.entered(child["executionArn"])
        assert "Preapproved" in entered
        assert "Approval" not in entered
    # And the evidence went out as an event
    events = stack.events()
    completed = [e for e in events if e["detail-type"] == "Wave Completed"]
    assert completed[-1]["detail"]["status"] == "succeeded-within-tolerance"
    # And it says what was rolled back, as the failed run's compensation reported it: in the
    # ledger's record of the cluster each change, in the state and the event how many
    [rolled] = [e["detail"] for e in events if e["detail-type"] == "Migration Rolled Back"]
    assert rolled["cluster"] == "orders-prod"
    assert rolled["reverted"], rolled
    failed = by_cluster["orders-prod"]
    assert failed["rolled_back"] == {"reverted": len(rolled["reverted"]),
                                     "kept": len(rolled["kept"])}  # fmt: skip
    table = f"{stack.deployment.stack_name}-LedgerTable"
    kept = Ledger(stack.session.client("dynamodb"), table).read_note(
        "canary-1", f"report-{failed['execution']}"
    )
    assert kept is not None
    assert (kept["rolled_back"]["reverted"], kept["rolled_back"]["kept"]) == (
        rolled["reverted"], rolled["kept"])  # fmt: skip
    assert "rolled_back" not in by_cluster["payments-prod"]
    assert [c.get("rolled_back") for c in completed[-1]["detail"]["clusters"]
            if c["cluster"] == "orders-prod"] == [failed["rolled_back"]]  # fmt: skip


def test_a_wave_past_its_tolerance_starts_no_more_clusters(stack: Stack) -> None:
    vpcs = _estates(stack, blocked=False)
    wave = _wave(stack, max_concurrency=1)  # no failure tolerated
    done = _run_with_a_failure(stack, wave, "canary-2")
    assert (done["status"], done["error"]) == ("FAILED", "stopped")
    assert len(_children(stack)) == 1
    assert not _ipv6(stack, OTHER_ACCOUNT, vpcs["payments-prod"])


def test_the_halt_alarm_and_a_freeze_window_stop_a_wave_before_any_cluster(stack: Stack) -> None:
    _estates(stack, blocked=False)
    # A freeze window covering now: the wave ends before asking, nothing started
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    frozen = _wave(stack, freeze=[{"start": (now - datetime.timedelta(hours=1)).isoformat(),
                                   "end": (now + datetime.timedelta(hours=1)).isoformat(),
                                   "reason": "change freeze"}])  # fmt: skip
    done = stack.wait(_start(stack, frozen, "frozen"), timeout=120)
    assert (done["status"], done["error"]) == ("FAILED", "frozen")
    # The HaltWaves alarm on: approved, but no cluster starts
    stack.session.client("cloudwatch").set_alarm_state(
        AlarmName=f"{stack.deployment.stack_name}-HaltWaves", StateValue="ALARM",
        StateReason="operator halt",
    )  # fmt: skip
    execution = _start(stack, _wave(stack), "halted")
    threading.Thread(target=_approve, args=(stack, "halted"), daemon=True).start()
    done = stack.wait(execution, timeout=120)
    assert (done["status"], done.get("error")) == ("FAILED", "stopped")
    assert _children(stack) == []


def test_waves_apply_keeps_one_schedule_per_scheduled_wave(
    stack: Stack, tmp_path: Any, capsys: Any
) -> None:
    import yaml

    from local import runtime
    from tooling.cli import main

    def apply(waves: list[dict[str, Any]], *flags: str) -> str:
        path = tmp_path / "waves.yaml"
        path.write_text(yaml.safe_dump({"waves": waves}))
        runtime.settled()  # the CLI's session signs as the operator, not as a function
        assert main(["waves", "apply", str(path), *flags]) == 0
        return str(capsys.readouterr().out)

    canary = {**_wave(stack), "schedule": {"expression": "at(2027-01-12T09:00:00)",
              "timezone": "Europe/London", "flexible_window_minutes": 30}}  # fmt: skip
    prod = {**_wave(stack), "id": "prod", "schedule": {"expression": "cron(0 9 ? * TUE *)"}}
    later = {**_wave(stack), "id": "later"}
    # When the waves are applied, Then each scheduled wave has its schedule, the other none
    out = apply([canary, prod, later])
    assert "+ wave-canary: at(2027-01-12T09:00:00) Europe/London" in out
    assert "+ wave-prod" in out
    assert "wave later: no schedule" in out
    scheduler = stack.session.client("scheduler")
    group = f"{stack.deployment.stack_name}-waves"
    made = scheduler.get_schedule(GroupName=group, Name="wave-canary")
    assert made["ScheduleExpressionTimezone"] == "Europe/London"
    assert made["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 30}
    assert made["ActionAfterCompletion"] == "DELETE"  # a one-time schedule removes itself
    assert made["Target"]["Arn"] == stack.deployment.state_machines["WaveStateMachine"]
    assert made["Target"]["RoleArn"].endswith(
        f"role/{stack.deployment.stack_name}-WaveSchedulerRole"
    )
    started = json.loads(made["Target"]["Input"])
    assert started["wave"]["id"] == "canary"
    assert started["wave"]["max_concurrency"] == 1  # with its defaults, as the run will see it
    # And the schedule's requester is on record, the CLI's caller, not in the schedule's input
    assert "requested_by" not in started
    table = f"{stack.deployment.stack_name}-LedgerTable"
    ledger = Ledger(stack.session.client("dynamodb"), table)
    kept = ledger.wave_request(started["request"])
    me = stack.session.client("sts").get_caller_identity()["Arn"]
    assert kept is not None
    assert kept["requested_by"] == me
    assert scheduler.get_schedule(GroupName=group, Name="wave-prod")["ActionAfterCompletion"] == (
        "NONE"
    )
    # Applied again: nothing changes; a changed wave is updated, a removed one deleted
    assert apply([canary, prod, later]).count("unchanged") == 2
    changed = {**canary, "tolerance": {"count": 2}}
    dry = apply([changed, later], "--dry-run")
    assert "~ wave-canary: Target.Input (the wave)" in dry
    assert "- wave-prod" in dry
    assert len(scheduler.list_schedules(GroupName=group)["Schedules"]) == 2  # a dry run
    apply([changed, later])
    names = {s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]}
    assert names == {"wave-canary"}
    updated = json.loads(scheduler.get_schedule(GroupName=group, Name="wave-canary")["Target"][
        "Input"])  # fmt: skip
    assert updated["wave"]["tolerance"]["count"] == 2


def test_a_scheduled_wave_starts_when_its_time_comes_and_its_schedule_goes(
    stack: Stack, tmp_path: Any
) -> None:
    import yaml

    from local import runtime
    from tooling.cli import main

    # Given a wave scheduled a few seconds from now (frozen, so it ends at once when it runs)
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    soon = now + datetime.timedelta(seconds=3)
    wave = _wave(stack, freeze=[{"start": (now - datetime.timedelta(hours=1)).isoformat(),
                                 "end": (now + datetime.timedelta(hours=1)).isoformat()}],
                 schedule={"expression": f"at({soon.isoformat()})", "timezone": "UTC"})  # fmt: skip
    path = tmp_path / "waves.yaml"
    path.write_text(yaml.safe_dump({"waves": [wave]}))
    runtime.settled()
    assert main(["waves", "apply", str(path)]) == 0
    # When its time comes, Then the scheduler starts the wave state machine with the wave
    sfn = stack.session.client("stepfunctions")
    machine = stack.deployment.state_machines["WaveStateMachine"]
    for _ in range(100):
        runs = sfn.list_executions(stateMachineArn=machine)["executions"]
        if runs:
            break
        time.sleep(0.1)
    (run,) = runs
    done = stack.wait(run["executionArn"], timeout=60)
    assert json.loads(done["input"])["wave"]["id"] == "canary"
    assert done["error"] == "frozen"
    # And the one-time schedule has deleted itself
    group = f"{stack.deployment.stack_name}-waves"
    assert stack.session.client("scheduler").list_schedules(GroupName=group)["Schedules"] == []


def _wave_now(stack: Stack, run_id: str, until: Any, timeout: float = 120) -> dict[str, Any]:
    """GET /waves/{run_id} until `until(answer)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = stack.api("GET", f"/waves/{run_id}")
        assert answer.status == 200, answer
        if until(answer.body) or time.monotonic() > deadline:
            return dict(answer.body)
        time.sleep(0.2)


def _clusters_waiting(answer: dict[str, Any]) -> bool:
    return answer["map_run"] is not None and answer["map_run"]["status"] == "RUNNING"


def test_a_paused_wave_starts_no_cluster_and_anyone_may_abort_it(stack: Stack) -> None:
    # Given a wave of two clusters, paused by someone who is not its approver before it is
    # approved
    _estates(stack, blocked=False)
    wave = _wave(stack, max_concurrency=3, ramp=False, bake_minutes=60)
    execution = _start(stack, wave, "canary-p")
    outsider = stack.as_role("platform", "mallory")
    paused = stack.api("POST", "/waves/canary-p/pause", {"reason": "incident 42"},
                       session=outsider)  # fmt: skip
    assert (paused.status, paused.body["paused"]) == (200, True), paused
    # When it is approved, its Map Run begins and its clusters reach the gate
    _approve(stack, "canary-p")
    now = _wave_now(stack, "canary-p", _clusters_waiting)
    assert _clusters_waiting(now), now
    time.sleep(1.0)
    # Then none starts while it is paused
    assert _children(stack) == []
    now = _wave_now(stack, "canary-p", lambda a: True)
    assert now["paused"] is True
    assert {c["status"] for c in now["clusters"]} == {"NOT_STARTED"}
    assert len(now["clusters"]) == 2
    # And only an approver may let it go on; anyone may abort it
    refused = stack.api("POST", "/waves/canary-p/resume", {}, session=outsider)
    assert refused.status == 403, refused
    aborted = stack.api("POST", "/waves/canary-p/abort", {}, session=outsider)
    assert (aborted.status, aborted.body["aborted"]) == (200, True), aborted
    assert stack.api("POST", "/waves/canary-p/resume", {}).status == 409
    done = stack.wait(execution, timeout=120)
    assert (done["status"], done["error"]) == ("FAILED", "aborted")
    assert _children(stack) == []
    assert "Bake" not in stack.entered(execution)  # nothing ran that needs to bake
    report = _wave_now(stack, "canary-p", lambda a: True)["report"]
    assert report["counts"]["not_started"] == 2
    assert [(a["action"], a["by"].rsplit("/", 1)[-1]) for a in report["operator_actions"]] == [
        ("pause", "mallory"),
        ("abort", "mallory"),
    ]
    # A wave that has ended is steered no more
    assert stack.api("POST", "/waves/canary-p/pause", {}).status == 409


def test_an_approver_changes_a_running_waves_tolerance_and_concurrency(stack: Stack) -> None:
    # Given a wave that tolerates no failure, paused once its clusters wait at the gate
    _estates(stack, blocked=False)
    faults.arm(fail_at=3)  # the first cluster's run fails on a change
    try:
        execution = _start(stack, _wave(stack, max_concurrency=1, ramp=False), "canary-s")
        assert stack.api("POST", "/waves/canary-s/pause", {}).status == 200
        _approve(stack, "canary-s")
        _wave_now(stack, "canary-s", _clusters_waiting)
        # When a non-approver tries to change it, nothing changes; an approver's change is
        # applied to the running Map Run (UpdateMapRun)
        outsider = stack.as_role("platform", "mallory")
        body = {"tolerated_failure_count": 1, "max_concurrency": 2, "reason": "known flaky"}
        assert stack.api("PATCH", "/waves/canary-s", body, session=outsider).status == 403
        assert stack.api("PATCH", "/waves/canary-s", {"reason": "x"}).status == 400
        changed = stack.api("PATCH", "/waves/canary-s", body)
        assert changed.status == 200, changed
        now = _wave_now(stack, "canary-s", lambda a: True)
        assert now["map_run"]["max_concurrency"] == 2
        assert now["map_run"]["tolerated_failure_count"] == 1
        assert stack.api("POST", "/waves/canary-s/resume", {}).status == 200
        done = stack.wait(execution, timeout=300)
    finally:
        faults.disarm()
    # Then the failure the wave would have stopped at is now within its tolerance
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    report = json.loads(done["output"])
    assert report["status"] == "succeeded-within-tolerance"
    assert (report["counts"]["succeeded"], report["counts"]["failed"]) == (1, 1)
    assert [a["action"] for a in report["operator_actions"]] == ["pause", "update", "resume"]


def test_a_ramping_wave_starts_one_cluster_then_more_as_they_succeed(stack: Stack) -> None:
    # Given two clusters and a wave of up to four at once, ramping (the default)
    _estates(stack, blocked=False)
    execution = _start(stack, _wave(stack, max_concurrency=4), "canary-r")
    _approve(stack, "canary-r")
    done = stack.wait(execution, timeout=300)
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    # Then the first cluster ran alone, the others only once it had succeeded
    sfn = stack.session.client("stepfunctions")
    children = sorted(
        (sfn.describe_execution(executionArn=c["executionArn"]) for c in _children(stack)),
        key=lambda c: c["startDate"],
    )
    assert len(children) == 2
    first, *rest = children
    assert all(first["stopDate"] <= later["startDate"] for later in rest), children
    # And each step of the ramp is kept: 2 after the first success, never above the maximum
    ramps = [a["max_concurrency"] for a in json.loads(done["output"])["operator_actions"]
             if a["action"] == "ramp"]  # fmt: skip
    assert ramps[0] == 2
    assert ramps == sorted(ramps)
    assert max(ramps) <= 4
    # And reading the wave costs one DescribeExecution (the wave's), not one per cluster: with
    # Step Functions' buckets (DescribeExecution 250 at 10/s outside the three large Regions)
    # and API Gateway's 29 s, a wave of hundreds would not be readable otherwise
    faults.count()
    now = stack.api("GET", "/waves/canary-r")
    described = sum(n for k, n in faults.counted().items() if k.endswith("DescribeExecution"))
    assert now.status == 200, now
    assert {c["status"] for c in now.body["clusters"]} == {"SUCCEEDED"}
    assert described == 1, faults.counted()


def test_a_wave_runs_at_most_its_limit_in_one_account_and_region(
    stack: Stack, monkeypatch: Any
) -> None:
    from local import runtime

    # Given two clusters in one account and Region, a third in another, and a wave of three at
    # once but one per account and Region, with a bake after which all are probed again
    _estates(stack, legacy=True)
    wave = _wave(stack, max_concurrency=3, ramp=False, max_concurrency_per_account_region=1,
                 bake_minutes=30)  # fmt: skip
    # (each recheck timed from the state machine's Invoke to its answer: the embedded Lambda
    # runs one handler at a time, so two rechecks in flight at once show as overlapping calls)
    rechecked: dict[str, tuple[float, float]] = {}
    invoke = runtime.invoke

    def timed(function: str, payload: Any, headers: Any) -> bytes:
        began = time.monotonic()
        try:
            return invoke(function, payload, headers)
        finally:
            event = json.loads(payload) if payload else {}
            if isinstance(event, dict) and event.get("recheck"):
                rechecked[event["request"]["cluster"]] = (began, time.monotonic())

    monkeypatch.setattr(runtime, "invoke", timed)
    execution = _start(stack, wave, "canary-a")
    _approve(stack, "canary-a")
    done = stack.wait(execution, timeout=300)
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    # Then the two in one account ran one after the other; all three were migrated
    sfn = stack.session.client("stepfunctions")
    runs = {
        d["name"].split("-")[1]: d
        for d in (sfn.describe_execution(executionArn=c["executionArn"]) for c in _children(stack))
    }
    assert set(runs) == {"orders", "legacy", "payments"}
    first, second = sorted((runs["orders"], runs["legacy"]), key=lambda r: r["startDate"])
    assert first["stopDate"] <= second["startDate"], (first, second)
    assert {r["status"] for r in runs.values()} == {"SUCCEEDED"}
    # And after the bake, the two were probed again one after the other as well (the limit
    # holds for the whole wave: EC2's buckets are per account and Region), all three sound
    assert set(rechecked) == {"orders-prod", "legacy-prod", "payments-prod"}, rechecked
    one, two = sorted((rechecked["orders-prod"], rechecked["legacy-prod"]))
    assert one[1] <= two[0], rechecked
    assert json.loads(done["output"])["status"] == "succeeded"


def test_a_stopped_wave_holds_the_next_until_its_approvers_let_the_waves_go_on(
    stack: Stack,
) -> None:
    from tooling.cli import decide

    # Given a wave that stopped past its tolerance, one cluster not migrated
    vpcs = _estates(stack, blocked=False)
    stopped = _run_with_a_failure(stack, _wave(stack, max_concurrency=1), "canary-h1")
    assert (stopped["status"], stopped["error"]) == ("FAILED", "stopped")
    # When the next wave, one that needs no approval, starts
    me = stack.session.client("sts").get_caller_identity()["Arn"]
    unasked = _wave(stack, approval={"mode": "none", "approvers": [me],
                                     "allow_self_approval": True})  # fmt: skip
    stack.events()  # what came before
    second = _start(stack, unasked, "canary-h2")
    # Then it asks its approvers, saying why; rejected, it starts nothing and the hold stays
    approval_id = stack.approval_id("canary-h2")
    asked = [e["detail"] for e in stack.events() if e["detail-type"] == "Approval Requested"]
    assert any("canary-h1" in w and "go on" in w for w in asked[-1]["warnings"]), asked
    decide(stack.session, stack.deployment.stack_name, approval_id, "reject")
    assert stack.wait(second, timeout=120)["status"] == "FAILED"
    assert len(_children(stack)) == 1
    # And approved, the next one goes on and migrates the cluster the first left
    third = _start(stack, unasked, "canary-h3")
    decide(stack.session, stack.deployment.stack_name, stack.approval_id("canary-h3"), "approve")
    done = stack.wait(third, timeout=300)
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    assert _ipv6(stack, OTHER_ACCOUNT, vpcs["payments-prod"])
    # And the hold is lifted: waves that need no approval go without asking again
    table = f"{stack.deployment.stack_name}-LedgerTable"
    assert Ledger(stack.session.client("dynamodb"), table).waves_hold() is None


def test_a_wave_probes_its_clusters_again_after_the_bake_and_a_broken_one_holds_the_next(
    stack: Stack, monkeypatch: Any
) -> None:
    """Issue 11, item 5: the bake ends with the IPv6 checks and probes run again on every
    cluster the wave migrated, each under the cluster's lock and a journaled access entry,
    as the migration's own validation did. The embedded AWS fast-forwards the bake's Wait;
    what happens during it is done as that Wait passes: another team deletes a `::/0` route
    of payments-prod, and another run takes legacy-prod's lock."""
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    vpcs = _estates(stack, blocked=False, legacy=True)
    wave = _wave(stack, max_concurrency=3, ramp=False, bake_minutes=60)
    table = f"{stack.deployment.stack_name}-LedgerTable"
    ledger = Ledger(stack.session.client("dynamodb"), table)
    ec2 = target_session("eu-west-1", OTHER_ACCOUNT, base=stack.session).client("ec2")
    deleted: list[str] = []
    bake = wait_function.WaitFunction._wait_interval

    def waited(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds >= 3600 and not deleted:  # the bake: the migrations' polls wait far less
            tables = ec2.describe_route_tables(
                Filters=[{"Name": "vpc-id", "Values": [vpcs["payments-prod"]]}]
            )["RouteTables"]
            for table in tables:
                for route in table["Routes"]:
                    if route.get("DestinationIpv6CidrBlock") == "::/0" and not deleted:
                        ec2.delete_route(RouteTableId=table["RouteTableId"],
                                         DestinationIpv6CidrBlock="::/0")  # fmt: skip
                        deleted.append(table["RouteTableId"])
            ledger.acquire("222222222222", "eu-west-1", "legacy-prod", "someone-else")
        bake(self, env, wait_seconds=wait_seconds)

    monkeypatch.setattr(wait_function.WaitFunction, "_wait_interval", waited)
    execution = _start(stack, wave, "canary-b")
    _approve(stack, "canary-b")
    done = stack.wait(execution, timeout=300)
    # Then the wave says the bake found payments-prod broken, and orders-prod still sound
    assert deleted, ("the bake never waited", done.get("error"), done.get("cause"))
    assert "Recheck" in stack.entered(execution)
    assert (done["status"], done.get("error")) == ("FAILED", "bake-failed"), done.get("cause")
    report = ledger.read_note("canary-b", "wave-report")
    assert report is not None
    assert report["status"] == "bake-failed"
    by_cluster = {c["cluster"]: c for c in report["clusters"]}
    assert by_cluster["orders-prod"]["recheck"] == {"passed": True, "failures": 0}
    assert by_cluster["payments-prod"]["recheck"]["passed"] is False
    # and legacy-prod not probed while another run holds its lock, which it keeps
    assert by_cluster["legacy-prod"]["recheck"] == {"passed": False, "failures": 1}
    legacy = ledger.read_note("canary-b", f"report-{by_cluster['legacy-prod']['execution']}")
    assert legacy is not None
    assert "someone-else" in legacy["recheck"]["error"], legacy
    assert ledger.holder("222222222222", "eu-west-1", "legacy-prod") == "someone-else"
    ledger.release("222222222222", "eu-west-1", "legacy-prod", "someone-else")
    full = ledger.read_note("canary-b", f"report-{by_cluster['payments-prod']['execution']}")
    assert full is not None
    assert any(deleted[0] in f or "::/0" in f for f in full["recheck"]["failures"]), full
    # And the later waves wait for an approval
    hold = ledger.waves_hold()
    assert hold is not None
    assert (hold["run_id"], hold["status"]) == ("canary-b", "bake-failed")
    # And each recheck gave back what it took: no lock held, no access entry of its left
    for account, cluster in (("222222222222", "orders-prod"), (OTHER_ACCOUNT, "payments-prod")):
        lock = stack.session.client("dynamodb").get_item(
            TableName=table,
            Key={"pk": {"S": f"cluster#{account}#eu-west-1#{cluster}"}, "sk": {"S": "lock"}},
        )
        assert "Item" not in lock, (cluster, lock)
        eks = target_session("eu-west-1", account, base=stack.session).client("eks")
        entries = eks.list_access_entries(clusterName=cluster)["accessEntries"]
        assert not [e for e in entries if "ValidateFunction" in e or "validate" in e.lower()]
        access = ledger.read_note(by_cluster[cluster]["execution"], "access")
        assert access is not None
        assert access["status"] != "intent", access
    completed = [e for e in stack.events() if e["detail-type"] == "Wave Completed"]
    assert completed[-1]["detail"]["status"] == "bake-failed"


def _one_cluster(stack: Stack) -> None:
    seed(ESTATES["small"].model_copy(update={**LEAN, "cluster_tags": TAG}), stack.session)


def test_a_wave_started_outside_the_api_cannot_name_its_requester_nor_hide_it(
    stack: Stack,
) -> None:
    """Issue 26, item 4: whoever may call StartExecution on the wave machine writes its input.
    A wave whose approval must come from someone other than its requester takes that requester
    from the request the API recorded, never from the input: a forged one, a made-up request,
    a recorded request with the wave changed, or none at all, are each refused before anyone
    is asked to approve."""
    from tooling.cli import CliError, decide

    _one_cluster(stack)
    me = stack.session.client("sts").get_caller_identity()["Arn"]
    wave = _wave(stack, targets={"accounts": ["222222222222"], "cluster_tags": TAG},
                 approval={"approvers": [me]})  # fmt: skip
    # Given a wave started through the API: its requester is the caller, who may not approve it
    answer = stack.api("POST", "/waves", {"wave": wave, "client_token": "canary-once"})
    assert answer.status == 201, answer
    assert answer.body["requested_by"] == me
    run_id = answer.body["run_id"]
    with pytest.raises(CliError, match="asked for this run and may not decide it"):
        decide(stack.session, stack.deployment.stack_name, stack.approval_id(run_id), "approve")
    sfn = stack.session.client("stepfunctions")
    sfn.stop_execution(executionArn=answer.body["execution_arn"])
    started = json.loads(sfn.describe_execution(executionArn=answer.body["execution_arn"])["input"])
    # When the same wave is started directly, its input naming another requester (or hiding it)
    someone = "arn:aws:iam::111111111111:role/someone-else"
    for name, forged in (
        ("forged", {"wave": wave, "requested_by": someone}),
        ("in-spec", {"wave": {**wave, "approval": {**wave["approval"], "requested_by": someone}}}),
        ("unknown", {"wave": wave}),
        ("made-up", {"wave": wave, "request": "start:canary-tmadeup"}),
        ("changed", {**started, "wave": {**started["wave"], "max_concurrency": 5}}),
    ):
        execution = sfn.start_execution(
            stateMachineArn=stack.deployment.state_machines["WaveStateMachine"], name=name,
            input=json.dumps(forged),
        )["executionArn"]  # fmt: skip
        # Then the wave ends at once, saying why, and nobody is asked to approve it
        done = stack.wait(execution, timeout=60)
        assert done["status"] == "FAILED", name
        assert "requester" in done.get("cause", ""), (name, done.get("cause"))
        assert "WaveApproval" not in stack.entered(execution), name
