"""Waves (issue 11, item 5): waves.yaml is validated with errors that name the wave and the
field; `v6migrate waves plan` resolves each wave's clusters (accounts, organisational units
through AWS Organizations, Regions, names or tags) and plans every one, reporting the blocked
ones, and changes nothing."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from local.seed import ESTATES, seed
from tooling.cli import main
from v6migrate.waves import FreezeWindow, WaveSpec

LEAN = {"transit_gateway": False, "peering": False, "cloud_wan": False, "edges": False}
TAG = {"v6migrate/wave": "canary"}


def _write(tmp_path: Path, waves: list[dict[str, Any]]) -> str:
    path = tmp_path / "waves.yaml"
    path.write_text(yaml.safe_dump({"waves": waves}))
    return str(path)


def _estate(account: str, cluster: str, cidr: str, **changes: Any) -> dict[str, str]:
    spec = ESTATES["small"].model_copy(update={
        **LEAN, "account_id": account, "cluster": cluster, "vpc_cidr": cidr,
        "cluster_tags": TAG, **changes})  # fmt: skip
    return seed(spec)


def test_waves_plan_resolves_accounts_units_and_tags_and_plans_every_cluster(
    moto: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # Given an organisation with a unit holding one account, and clusters in three accounts:
    # two tagged for the wave, one tagged but config-map-only (blocked), one untagged
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    root = organizations.list_roots()["Roots"][0]["Id"]
    unit = organizations.create_organizational_unit(ParentId=root, Name="prod")[
        "OrganizationalUnit"]["Id"]  # fmt: skip
    created = organizations.create_account(AccountName="payments", Email="p@example.com")
    member = created["CreateAccountStatus"]["AccountId"]
    organizations.move_account(AccountId=member, SourceParentId=root, DestinationParentId=unit)
    _estate("222222222222", "orders-prod", "10.20.0.0/16")
    _estate("222222222222", "legacy-prod", "10.21.0.0/16", authentication_mode="CONFIG_MAP")
    _estate("222222222222", "untagged", "10.22.0.0/16", cluster_tags={})
    _estate(member, "payments-prod", "10.23.0.0/16")
    path = _write(tmp_path, [{
        "id": "canary", "regions": ["eu-west-1"],
        "targets": {"accounts": ["222222222222"], "organizational_units": [unit],
                    "cluster_tags": TAG},
        "approval": {"approvers": ["arn:aws:iam::111111111111:role/network-leads"]},
    }])  # fmt: skip
    # When the waves are planned
    assert main(["waves", "plan", path, "--output", "json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    # Then the tagged clusters of both accounts are there, the untagged one is not
    found = {(c["account_id"], c["cluster"]): c for c in report["clusters"]}
    assert set(found) == {("222222222222", "orders-prod"), ("222222222222", "legacy-prod"),
                          (member, "payments-prod")}  # fmt: skip
    # And the blocked cluster is reported with why, the others planned with their changes
    assert found[("222222222222", "legacy-prod")]["blocked"] is True
    assert "CONFIG_MAP" in " ".join(found[("222222222222", "legacy-prod")]["blockers"])
    assert found[(member, "payments-prod")]["counts"]["vpc"] > 0
    assert len(report["wave_hash"]) == 64
    # And the table says the same for people
    assert main(["waves", "plan", path]) == 0
    table = capsys.readouterr().out
    assert "3 cluster(s), 2 to start, 1 blocked" in table
    assert "BLOCKED" in table
    assert report["refused"] is None
    # And a wave too big for a run's state is said to be refused before one is started
    from v6migrate import waves

    monkeypatch.setattr(waves, "STATE_BUDGET", 100)
    assert main(["waves", "plan", path]) == 0
    assert "REFUSED: wave canary resolves to 2 clusters" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wave", "named"),
    [
        ({"regions": ["eu-west-1"], "targets": {"accounts": ["1"], "clusters": ["a"]}},
         "waves.0.targets.accounts.0"),
        ({"regions": [], "targets": {"accounts": ["222222222222"], "clusters": ["a"]}},
         "waves.0.regions"),
        ({"regions": ["eu-west-1"], "targets": {"accounts": ["222222222222"]}},
         "waves.0.targets"),
        ({"regions": ["eu-west-1"], "targets": {"accounts": ["222222222222"], "clusters": ["a"]},
          "schedule": {"expression": "tomorrow"}}, "waves.0.schedule.expression"),
        ({"regions": ["eu-west-1"], "targets": {"accounts": ["222222222222"], "clusters": ["a"]},
          "schedule": {"expression": "at(2027-01-04T09:00:00)", "timezone": "Mars/Olympus"}},
         "waves.0.schedule"),
        ({"regions": ["eu-west-1"], "targets": {"accounts": ["222222222222"], "clusters": ["a"]},
          "tolerance": {"percentage": 150}}, "waves.0.tolerance.percentage"),
        ({"regions": ["eu-west-1"], "targets": {"accounts": ["222222222222"], "clusters": ["a"]},
          "surprise": True}, "waves.0.surprise"),
    ],
)  # fmt: skip
def test_a_bad_waves_file_is_refused_naming_the_wave_and_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wave: dict[str, Any], named: str
) -> None:
    path = _write(tmp_path, [{"id": "canary", **wave}])
    assert main(["waves", "plan", path]) == 1
    err = capsys.readouterr().err
    assert f"{path}: {named}" in err
    assert "(wave 'canary')" in err


def test_two_waves_may_not_share_an_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wave = {"id": "w", "regions": ["eu-west-1"],
            "targets": {"accounts": ["222222222222"], "clusters": ["a"]}}  # fmt: skip
    assert main(["waves", "plan", _write(tmp_path, [wave, wave])]) == 1
    assert "wave ids must be unique: w" in capsys.readouterr().err


def test_a_freeze_window_covers_its_local_times_only() -> None:
    window = FreezeWindow(start=datetime.datetime(2026, 12, 24), timezone="Europe/Berlin",
                          end=datetime.datetime(2026, 12, 27))  # fmt: skip
    utc = datetime.UTC
    assert window.covers(datetime.datetime(2026, 12, 23, 23, 30, tzinfo=utc))  # 00:30 Berlin
    assert not window.covers(datetime.datetime(2026, 12, 23, 22, 30, tzinfo=utc))
    assert not window.covers(datetime.datetime(2026, 12, 26, 23, 0, tzinfo=utc))  # 00:00 the 27th
    wave = WaveSpec.model_validate({
        "id": "w", "regions": ["eu-west-1"], "freeze": [window.model_dump()],
        "targets": {"accounts": ["222222222222"], "clusters": ["a"]}})  # fmt: skip
    assert wave.frozen_at(datetime.datetime(2026, 12, 25, tzinfo=utc)) == window
    assert wave.frozen_at(datetime.datetime(2026, 12, 28, tzinfo=utc)) is None


def test_the_example_waves_file_is_valid_and_its_runs_are_bound_to_the_approved_plans() -> None:
    from tooling.cli import load_waves
    from v6migrate.models import PlanSummary
    from v6migrate.waves import Planned, Target, child_request

    spec = load_waves(str(Path(__file__).resolve().parents[2] / "docs" / "waves.example.yaml"))
    wave = spec.waves[1]
    assert (wave.id, wave.tolerance.count, wave.approval.required) == ("prod-eu", 1, 2)
    summary = PlanSummary(
        migration_id="m", cluster="c", account_id="222222222222", region="eu-west-1",
        mode="plan", blocked=False, blockers=(), warnings=(), counts={}, changes=(),
        plan_hash="a" * 64,
    )  # fmt: skip
    planned = Planned(target=Target(account_id="222222222222", region="eu-west-1",
                                    cluster="c"), summary=summary)  # fmt: skip
    request = child_request(wave, planned, requested_by="arn:aws:iam::111111111111:role/ops")
    assert (request.mode, request.wave_id, request.cluster) == ("apply", "prod-eu", "c")
    assert request.approval.preapproved_plan_hash == "a" * 64
    assert request.approval.approvers == wave.approval.approvers
    assert request.approval.requested_by == "arn:aws:iam::111111111111:role/ops"
    unapproved = wave.model_copy(update={"approval": wave.approval.model_copy(
        update={"mode": "none"})})  # fmt: skip
    assert child_request(unapproved, planned, None).approval.preapproved_plan_hash is None


def _item(cluster: str) -> dict[str, Any]:
    return {"name": f"w-{cluster}", "account_id": "222222222222", "region": "eu-west-1",
            "cluster": cluster}  # fmt: skip


def _run(status: str, seconds: float = 0.0, **extra: Any) -> dict[str, Any]:
    start = datetime.datetime(2027, 1, 1, 9, 0, tzinfo=datetime.UTC)
    return {"status": status, "startDate": start,
            "stopDate": start + datetime.timedelta(seconds=seconds), **extra}  # fmt: skip


def test_the_wave_report_says_each_clusters_run_and_how_the_wave_ended() -> None:
    from v6migrate import waves

    wave = waves.WaveSpec.model_validate(
        {"id": "w", "regions": ["eu-west-1"],
         "targets": {"accounts": ["222222222222"], "clusters": ["a"]}}
    )  # fmt: skip
    targets = {
        "items": [_item("a"), _item("b"), _item("c")],
        "blocked": [{"cluster": "d", "blockers": ["config map only"]}],
        "wave_hash": "h", "frozen": None,
    }  # fmt: skip
    output = json.dumps({"stages": {"vpc": "done"}, "validation": {"passed": True}})
    runs = [_run("SUCCEEDED", 90.04, output=output),
            _run("FAILED", 30.0, error="States.TaskFailed"), None]  # fmt: skip
    approval = {"approvers": ["arn:aws:iam::1:role/lead"]}
    report = waves.report(wave, "run-1", targets, runs, None, approval)
    a, b, c = report["clusters"]
    assert (a["status"], a["seconds"], a["stages"], a["validation"]) == (
        "SUCCEEDED", 90.0, {"vpc": "done"}, {"passed": True})  # fmt: skip
    assert (a["execution"], a["account_id"], a["region"]) == ("w-a", "222222222222", "eu-west-1")
    assert "error" not in a
    assert (b["status"], b["seconds"], b["error"]) == ("FAILED", 30.0, "States.TaskFailed")
    assert c == {"account_id": "222222222222", "region": "eu-west-1", "cluster": "c",
                 "execution": "w-c", "status": "NOT_STARTED"}  # fmt: skip
    assert report["counts"] == {"planned": 4, "succeeded": 1, "failed": 1, "not_started": 1,
                                "blocked": 1}  # fmt: skip
    assert report["status"] == "succeeded-within-tolerance"
    assert (report["approved_by"], report["wave_hash"], report["error"]) == (
        ["arn:aws:iam::1:role/lead"], "h", None)  # fmt: skip
    assert report["blocked"] == targets["blocked"]
    assert report["operator_actions"] == []
    # How it ended: all succeeded; stopped (a failure caught); aborted; frozen first of all
    done = waves.report(wave, "run-1", {"items": [_item("a")]}, [_run("SUCCEEDED")], None, None)
    assert (done["status"], done["approved_by"]) == ("succeeded", [])
    failure = {"Error": "States.ExceedToleratedFailureThreshold"}
    stopped = waves.report(wave, "run-1", targets, runs, failure, approval)
    assert (stopped["status"], stopped["error"]) == ("stopped", failure["Error"])
    pressed = waves.Control(aborted=True, actions=({"action": "abort", "by": "x"},))
    aborted = waves.report(wave, "run-1", targets, runs, failure, approval, pressed)
    assert (aborted["status"], aborted["operator_actions"]) == (
        "aborted", [{"action": "abort", "by": "x"}])  # fmt: skip
    frozen = waves.report(wave, "run-1", {**targets, "frozen": {"reason": "x"}}, runs, failure,
                          approval, pressed)  # fmt: skip
    assert frozen["status"] == "frozen"
    with pytest.raises(ValueError, match=r"shorter|longer"):
        waves.report(wave, "run-1", targets, runs[:2], None, None)  # one run per item
    # What a failed run's compensation undid: in full in the evidence, as counts in its compact
    # form (the state and the event); a run that succeeded has no rollback whatever is passed
    undone = {"reverted": ["route-1", "sg-2"], "kept": ["vpc-cidr"],
              "why_kept": {"vpc-cidr": "irreversible"}, "untouched": 1, "done": True}  # fmt: skip
    rolled = waves.report(wave, "run-1", targets, runs, None, approval, None, None,
                          [undone, undone, None])  # fmt: skip
    a, b, c = rolled["clusters"]
    assert "rolled_back" not in a
    assert "rolled_back" not in c
    assert b["rolled_back"] == {"reverted": ["route-1", "sg-2"], "kept": ["vpc-cidr"],
                                "why_kept": {"vpc-cidr": "irreversible"}}  # fmt: skip
    assert waves.compact(rolled)["clusters"][1]["rolled_back"] == {"reverted": 2, "kept": 1}


def test_after_the_bake_a_cluster_not_sound_again_ends_the_wave_bake_failed() -> None:
    """Issue 11, item 5: the probes again after the bake. Only clusters that succeeded carry a
    recheck; one that failed it, could not be checked (an error) or has no result at all ends
    the wave `bake-failed`, which holds the waves after it."""
    from v6migrate import waves

    wave = waves.WaveSpec.model_validate(
        {"id": "w", "regions": ["eu-west-1"],
         "targets": {"accounts": ["222222222222"], "clusters": ["a"]}}
    )  # fmt: skip
    targets = {"items": [_item("a"), _item("b"), _item("c")]}
    runs = [_run("SUCCEEDED"), _run("SUCCEEDED"), _run("FAILED")]
    sound = {"passed": True, "failures": ()}
    report = waves.report(wave, "r", targets, runs, None, None, None, [sound, sound, None])
    assert report["status"] == "succeeded-within-tolerance"
    assert [c.get("recheck") for c in report["clusters"]] == [sound, sound, None]
    assert not waves.holds_later_waves(report)
    assert [c.get("recheck") for c in waves.compact(report)["clusters"]] == [
        {"passed": True, "failures": 0}, {"passed": True, "failures": 0}, None]  # fmt: skip
    broken = {"passed": False, "failures": ("route ::/0: missing", "probe: no answer")}
    for again, failures in (
        (broken, 2),
        ({"passed": False, "error": "MigrationInProgress: held by m-2"}, 1),
        (None, 1),  # no result: not checked again
    ):
        report = waves.report(wave, "r", targets, runs, None, None, None, [sound, again, None])
        assert report["status"] == "bake-failed", again
        assert report["clusters"][1]["recheck"]["passed"] is False
        assert waves.compact(report)["clusters"][1]["recheck"] == {
            "passed": False, "failures": failures}  # fmt: skip
        assert waves.holds_later_waves(report)
    # Without rechecks (no bake) nothing is said of them
    plain = waves.report(wave, "r", targets, runs, None, None)
    assert all("recheck" not in c for c in plain["clusters"])


def _planned(count: int) -> list[Any]:
    from v6migrate import waves
    from v6migrate.models import ApprovalPolicy, PlanSummary

    return [
        waves.Planned(
            target=waves.Target(account_id=f"{200000000000 + n // 10:012d}", region="eu-west-1",
                                cluster=f"cluster-{n:04d}-" + "x" * 60),
            summary=PlanSummary(
                migration_id=f"m{n}", cluster=f"cluster-{n:04d}", account_id="222222222222",
                region="eu-west-1", mode="apply", blocked=False, blockers=(), warnings=(),
                counts={"vpc": 40, "attachments": 20}, changes=(), omitted_changes=60,
                plan_hash=f"{n:064x}", approval=ApprovalPolicy(),
            ),
        )
        for n in range(count)
    ]  # fmt: skip


def test_what_a_big_wave_carries_in_its_state_stays_below_256_kib_or_is_refused() -> None:
    # Step Functions: a state's input or output at most 256 KiB (States.DataLimitExceeded);
    # EventBridge: an event at most 256 KB. bench/wave_scale.py found a wave of 50 clusters
    # failing on it when each item carried its cluster's whole request.
    from v6migrate import waves
    from v6migrate.errors import InputError

    wave = waves.WaveSpec.model_validate(
        {"id": "w", "regions": ["eu-west-1"],
         "targets": {"accounts": ["222222222222"], "cluster_tags": {"k": "v"}}}
    )  # fmt: skip
    answer = waves.targets_output(wave, "run-1", _planned(500), None, None)
    assert len(json.dumps(answer)) < 256 * 1024 / 2
    run = {
        "status": "SUCCEEDED",
        "output": json.dumps(
            {"stages": {"vpc": "x" * 4000}, "validation": {"checks": ["y" * 4000]}}
        ),
    }
    evidence = waves.report(wave, "run-1", answer, [run] * len(answer["items"]), None, None)
    assert len(json.dumps(waves.compact(evidence))) < 256 * 1024
    assert len(json.dumps(evidence)) > 256 * 1024  # what the ledger keeps, cluster by cluster
    # Too many clusters for one wave: refused with what to do, before anything starts
    with pytest.raises(InputError, match="split it into smaller waves"):
        waves.targets_output(wave, "run-1", _planned(1200), None, None)


def test_a_baking_wave_takes_no_more_clusters_than_its_history_can_recheck() -> None:
    # Step Functions ends an execution at 25,000 history events; the checks after the bake
    # run in the wave's own execution, about 80 events a cluster (tests/asl's budget)
    from v6migrate import waves
    from v6migrate.errors import InputError

    spec = {"id": "w", "regions": ["eu-west-1"],
            "targets": {"accounts": ["222222222222"], "cluster_tags": {"k": "v"}}}  # fmt: skip
    baking = waves.WaveSpec.model_validate({**spec, "bake_minutes": 30})
    most = waves.MAX_RECHECKED
    assert waves.targets_output(baking, "run-1", _planned(most), None, None)["count"] == most
    with pytest.raises(InputError, match=f"at most {most} clusters"):
        waves.targets_output(baking, "run-1", _planned(most + 1), None, None)
    plain = waves.WaveSpec.model_validate(spec)  # no bake, no recheck: only the state's size
    assert waves.targets_output(plain, "run-1", _planned(most + 1), None, None)["count"] == most + 1


def test_after_the_bake_the_clusters_are_checked_again_in_rounds_that_keep_the_limit() -> None:
    # The wave's limit per account and Region (EC2's request buckets are per account and
    # Region) holds for the checks after the bake as for the migrations: each round has at most
    # that many clusters of one account and Region, and no cluster is left out or checked twice.
    from v6migrate import waves

    def item(name: str, account: str, region: str = "eu-west-1") -> dict[str, Any]:
        return {"name": name, "account_id": account, "region": region}

    items = [item("a1", "111111111111"), item("a2", "111111111111"), item("b1", "222222222222"),
             item("a3", "111111111111"), item("a4", "111111111111", "eu-central-1")]  # fmt: skip
    assert waves.recheck_rounds(items, 1) == [["a1", "b1", "a4"], ["a2"], ["a3"]]
    assert waves.recheck_rounds(items, 2) == [["a1", "a2", "b1", "a4"], ["a3"]]
    assert waves.recheck_rounds(items, None) == [["a1", "a2", "b1", "a3", "a4"]]
    assert waves.recheck_rounds([], 1) == []
    many = [item(f"c{n}", f"{200000000000 + n % 7:012d}") for n in range(300)]
    for limit in (1, 3, 50):
        rounds = waves.recheck_rounds(many, limit)
        assert sorted(n for r in rounds for n in r) == sorted(i["name"] for i in many)
        for names in rounds:
            accounts = [int(n[1:]) % 7 for n in names]
            assert max(accounts.count(a) for a in set(accounts)) <= limit


def test_a_wave_plans_its_clusters_at_once_but_few_of_one_account_and_region_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One invocation (600 s) plans every cluster of the wave, each a dry run of 30 to 50 calls
    # (bench/plan_scale.py): they run at once, in lanes, never more than the limit in one
    # account and Region (EC2's describe bucket is per account and Region), in the targets'
    # order whatever order they end in.
    import collections
    import threading
    import time

    from v6migrate import waves

    running: collections.Counter[str] = collections.Counter()
    peaks: collections.Counter[str] = collections.Counter()
    overall: list[int] = [0]
    lock = threading.Lock()

    def plan_one(wave: Any, target: Any, run_id: str) -> Any:
        with lock:
            running[target.account_id] += 1
            peaks[target.account_id] = max(peaks[target.account_id], running[target.account_id])
            overall[0] = max(overall[0], sum(running.values()))
        time.sleep(0.05)
        with lock:
            running[target.account_id] -= 1
        return target.cluster

    monkeypatch.setattr(waves, "_plan_one", plan_one)
    targets = [waves.Target(account_id=f"{200000000000 + n % 3:012d}", region="eu-west-1",
                            cluster=f"c{n:02d}") for n in range(24)]  # fmt: skip
    wave = waves.WaveSpec.model_validate(
        {"id": "w", "regions": ["eu-west-1"],
         "targets": {"accounts": ["200000000000"], "cluster_tags": {"k": "v"}}}
    )  # fmt: skip
    assert waves.plan_all(wave, targets, "run-1") == [t.cluster for t in targets]
    assert max(peaks.values()) == waves.PLANS_PER_ACCOUNT_REGION
    assert overall[0] > waves.PLANS_PER_ACCOUNT_REGION  # several accounts at once
    # A wave's own lower limit per account and Region holds for its plans too
    peaks.clear()
    one = wave.model_copy(update={"max_concurrency_per_account_region": 1})
    assert waves.plan_all(one, targets, "run-1") == [t.cluster for t in targets]
    assert max(peaks.values()) == 1
    assert waves.plan_all(wave, [], "run-1") == []


# ----------------------------------------------------------------- the requester (issue 26)

ME = "arn:aws:sts::111111111111:assumed-role/ops/alice"
TARGETS = {"accounts": ["222222222222"], "cluster_tags": TAG}


class _Requests:
    """The ledger's wave requests, as a dictionary."""

    def __init__(self) -> None:
        self.kept: dict[str, dict[str, str]] = {}

    def record_wave_request(self, request_id: str, by: str, digest: str) -> None:
        self.kept[request_id] = {"requested_by": by, "wave_digest": digest, "updated_at": "now"}

    def wave_request(self, request_id: str) -> dict[str, str] | None:
        return self.kept.get(request_id)


def _spec(**changes: Any) -> WaveSpec:
    base = {"id": "canary", "regions": ["eu-west-1"], "targets": TARGETS}
    return WaveSpec.model_validate({**base, **changes})


def test_a_waves_input_never_names_its_requester() -> None:
    from pydantic import ValidationError

    from v6migrate.waves import WaveInput

    wave = _spec().model_dump(mode="json")
    with pytest.raises(ValidationError, match="requester is not taken from its input"):
        WaveInput.model_validate({"wave": wave, "requested_by": ME})
    role = "arn:aws:iam::111111111111:role/ops"
    for field, value in (("requested_by", ME), ("preapproved_plan_hash", "a" * 64),
                         ("people_by_session", [role])):  # fmt: skip
        with pytest.raises(ValidationError, match=f"approval.{field} is set by"):
            _spec(approval={field: value})


def test_a_waves_requester_is_the_one_its_request_on_record_names() -> None:
    from v6migrate.errors import InputError
    from v6migrate.waves import WaveInput, requester_of, wave_digest

    ledger, wave = _Requests(), _spec()
    started = WaveInput(wave=wave, request="start:canary-t1")
    assert requester_of(ledger, WaveInput(wave=wave)) is None  # none on record: unknown
    with pytest.raises(InputError, match="not on record"):
        requester_of(ledger, started)
    ledger.record_wave_request("start:canary-t1", ME, wave_digest(wave))
    assert requester_of(ledger, started) == ME
    # the request's wave, changed in the input, is not the wave its requester asked for
    changed = WaveInput(wave=_spec(max_concurrency=5), request="start:canary-t1")
    with pytest.raises(InputError, match="not the wave its requester asked for"):
        requester_of(ledger, changed)
    ledger.record_wave_request("start:canary-t1", ME, "")  # its schedule deleted
    with pytest.raises(InputError, match="deleted its schedule"):
        requester_of(ledger, started)


def test_a_wave_with_no_known_requester_runs_only_if_it_needs_nobody_else() -> None:
    from v6migrate.errors import InputError
    from v6migrate.waves import refuse_unknown_requester

    refuse_unknown_requester(_spec(approval={"mode": "none"}), None)
    refuse_unknown_requester(_spec(approval={"allow_self_approval": True}), None)
    refuse_unknown_requester(_spec(), ME)
    with pytest.raises(InputError, match="its requester is unknown"):
        refuse_unknown_requester(_spec(), None)


def test_the_schedules_made_changed_kept_and_deleted_are_those_the_waves_want() -> None:
    from v6migrate.waves import schedule_plan, schedule_request, scope_of

    weekly = {"expression": "cron(0 9 ? * TUE *)"}
    kept, changed = _spec(id="kept", schedule=weekly), _spec(id="changed", schedule=weekly)
    args = ("arn:machine", "arn:role", "group")
    existing = {
        "wave-kept": schedule_request(kept, *args),
        "wave-changed": schedule_request(changed, *args),
        "wave-gone": schedule_request(_spec(id="gone", schedule=weekly), *args),
    }
    wanted = (kept, changed.model_copy(update={"max_concurrency": 3}),
              _spec(id="new", schedule=weekly), _spec(id="unscheduled"))  # fmt: skip
    plan = {name: (change, fields) for change, name, _, fields in schedule_plan(
        wanted, existing, *args)}  # fmt: skip
    assert plan == {
        "wave-kept": ("unchanged", []), "wave-changed": ("update", ["Target.Input (the wave)"]),
        "wave-new": ("create", []), "wave-gone": ("delete", []),
    }  # fmt: skip
    assert json.loads(existing["wave-kept"]["Target"]["Input"])["request"] == "schedule:wave-kept"
    assert scope_of(kept.model_dump(mode="json")) == ["222222222222"]
    units = _spec(targets={"organizational_units": ["ou-abcd-12345678"], "cluster_tags": TAG})
    assert scope_of(units.model_dump(mode="json")) == ["*"]
    assert scope_of(None) == ["*"]
