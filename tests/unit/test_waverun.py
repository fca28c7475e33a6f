"""A running wave's ramp and its control record (issue 11, item 5): the ramp's levels, when
it holds, and operators' actions kept in the ledger without losing one."""

from __future__ import annotations

from typing import Any

import pytest

from v6migrate import waverun, waves
from v6migrate.journal import Ledger

RUN = "wave-run-1"
EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:v6migrate-wave:wave-run-1"
MAP_RUN = "arn:aws:states:eu-west-1:123456789012:mapRun:v6migrate-wave/Migrate:1"


@pytest.mark.parametrize(
    ("succeeded", "ceiling", "level"),
    [(0, 8, 1), (1, 8, 2), (2, 8, 2), (3, 8, 4), (6, 8, 4), (7, 8, 8), (15, 8, 8), (7, 5, 5),
     (9, 1, 1)],
)  # fmt: skip
def test_the_ramp_goes_1_2_4_8_each_level_proven_before_the_next(
    succeeded: int, ceiling: int, level: int
) -> None:
    assert waves.ramp_level(succeeded, ceiling) == level


class MapRuns:
    """Step Functions as the ramp sees it: one running Map Run with these counts."""

    def __init__(self, counts: dict[str, int], at: int) -> None:
        self.counts, self.at = counts, at
        self.updates: list[dict[str, Any]] = []

    def get_paginator(self, name: str) -> Any:
        assert name == "list_map_runs"
        return self

    def paginate(self, executionArn: str) -> list[dict[str, Any]]:
        assert executionArn == EXECUTION
        return [{"mapRuns": [{"mapRunArn": MAP_RUN, "executionArn": EXECUTION}]}]

    def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:
        return {"mapRunArn": mapRunArn, "status": "RUNNING", "maxConcurrency": self.at,
                "itemCounts": self.counts}  # fmt: skip

    def update_map_run(self, **kwargs: Any) -> None:
        self.updates.append(kwargs)


def test_a_success_raises_the_map_runs_concurrency_and_the_step_is_kept(ledger: Ledger) -> None:
    sfn = MapRuns({"succeeded": 0}, at=1)
    assert waverun.ramp(sfn, ledger, EXECUTION, RUN, ceiling=4)["changed"] is True
    assert sfn.updates == [{"mapRunArn": MAP_RUN, "maxConcurrency": 2}]
    assert [a["max_concurrency"] for a in ledger.read_control(RUN)["actions"]] == [2]


@pytest.mark.parametrize(
    ("counts", "control"),
    [({"succeeded": 3, "failed": 1}, {}), ({"succeeded": 3, "timedOut": 1}, {}),
     ({"succeeded": 3}, {"paused": True}), ({"succeeded": 3}, {"aborted": True})],
)  # fmt: skip
def test_a_failure_a_pause_or_an_abort_holds_the_ramp(
    ledger: Ledger, counts: dict[str, int], control: dict[str, Any]
) -> None:
    if control:
        ledger.control(RUN, control, {"action": "test"})
    sfn = MapRuns(counts, at=2)
    assert waverun.ramp(sfn, ledger, EXECUTION, RUN, ceiling=8)["changed"] is False
    assert sfn.updates == []


def test_the_ramp_never_lowers_nor_passes_an_operators_ceiling(ledger: Ledger) -> None:
    higher = MapRuns({"succeeded": 1}, at=6)  # an operator set 6: the ramp's 2 is below
    assert waverun.ramp(higher, ledger, EXECUTION, RUN, ceiling=8)["changed"] is False
    ledger.control(RUN, {"max_concurrency": 3}, {"action": "update"})
    capped = MapRuns({"succeeded": 7}, at=2)
    waverun.ramp(capped, ledger, EXECUTION, RUN, ceiling=8)
    assert capped.updates == [{"mapRunArn": MAP_RUN, "maxConcurrency": 3}]


def test_control_actions_accumulate_and_the_latest_fields_win(ledger: Ledger) -> None:
    ledger.control(RUN, {"paused": True}, {"action": "pause", "by": "a"})
    ledger.control(RUN, {"paused": False}, {"action": "resume", "by": "b"})
    kept = waves.Control.model_validate(ledger.read_control(RUN))
    assert kept.paused is False
    assert [a["action"] for a in kept.actions] == ["pause", "resume"]
    assert waves.gate(kept) == {"aborted": False, "paused": False, "slot": True}
    ledger.control(RUN, {"aborted": True}, {"action": "abort", "by": "c"})
    ledger.control(RUN, {"paused": True}, {"action": "pause", "by": "d"})
    assert waves.gate(waves.Control.model_validate(ledger.read_control(RUN))) == {
        "aborted": True, "paused": False, "slot": True,
    }  # fmt: skip


def test_a_slot_per_account_and_region_is_held_by_at_most_the_limit(ledger: Ledger) -> None:
    key = waves.slot_key("222222222222", "eu-west-1")
    assert ledger.acquire_slot(RUN, key, "first", 1)
    assert not ledger.acquire_slot(RUN, key, "second", 1)  # the one slot is taken
    assert ledger.acquire_slot(RUN, key, "first", 1)  # a retried call: still the holder's
    assert ledger.acquire_slot(RUN, waves.slot_key("333333333333", "eu-west-1"), "third", 1)
    assert ledger.acquire_slot("another-run", key, "second", 1)  # each wave run its own
    ledger.release_slot(RUN, key, "first")
    assert ledger.acquire_slot(RUN, key, "second", 1)
    ledger.release_slot(RUN, key, "nobody")  # a holder that held none changes nothing
    assert not ledger.acquire_slot(RUN, key, "fourth", 1)
    assert ledger.acquire_slot(RUN, key, "fourth", 2)
    assert not ledger.acquire_slot(RUN, key, "fifth", 2)


def test_the_gate_says_wait_without_a_slot_and_skip_once_aborted() -> None:
    assert waves.gate(waves.Control(), slot=False) == {
        "aborted": False, "paused": False, "slot": False,
    }  # fmt: skip
    assert waves.gate(waves.Control(aborted=True))["aborted"] is True


def _evidence(status: str, succeeded: int = 0, failed: int = 0) -> dict[str, Any]:
    return {"status": status, "counts": {"succeeded": succeeded, "failed": failed}}


@pytest.mark.parametrize(
    ("evidence", "held"),
    [(_evidence("stopped", 1, 1), True), (_evidence("stopped", 0, 1), True),
     (_evidence("aborted"), True), (_evidence("stopped"), False), (_evidence("frozen"), False),
     (_evidence("succeeded-within-tolerance", 2, 1), False), (_evidence("succeeded", 3), False)],
)  # fmt: skip
def test_a_wave_that_stopped_with_clusters_started_or_was_aborted_holds_the_later_ones(
    evidence: dict[str, Any], held: bool
) -> None:
    # a rejected or unresolved wave started nothing: it stopped, but holds nothing
    assert waves.holds_later_waves(evidence) is held


def test_the_hold_is_lifted_only_by_an_approval_that_saw_it(ledger: Ledger) -> None:
    assert ledger.waves_hold() is None
    ledger.hold_waves({"wave_id": "canary", "run_id": "run-1", "status": "stopped"})
    (warning,) = waves.hold_warning(ledger.waves_hold())
    assert "wave canary (run run-1) ended stopped" in warning.message
    ledger.hold_waves({"wave_id": "prod", "run_id": "run-2", "status": "aborted"})
    assert not ledger.release_waves("run-1")  # approved seeing run-1's: run-2's stays
    assert ledger.waves_hold() == {"wave_id": "prod", "run_id": "run-2", "status": "aborted"}
    assert ledger.release_waves("run-2")
    assert ledger.waves_hold() is None
    assert waves.hold_warning(None) == ()


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "ABORTED"])
def test_no_running_map_run_no_ramp(ledger: Ledger, status: str) -> None:
    class Ended(MapRuns):
        def describe_map_run(self, mapRunArn: str) -> dict[str, Any]:
            return {**super().describe_map_run(mapRunArn), "status": status}

    ended = Ended({"succeeded": 1}, at=1)
    assert waverun.ramp(ended, ledger, EXECUTION, RUN, ceiling=8)["changed"] is False
    assert ended.updates == []


def test_the_ramp_counts_this_cluster_and_stops_at_the_level_it_is_at(ledger: Ledger) -> None:
    # the first success (this cluster's item has not ended: none counted yet) doubles 1 to 2
    first = MapRuns({}, at=1)
    assert waverun.ramp(first, ledger, EXECUTION, RUN, ceiling=8)["max_concurrency"] == 2
    assert first.updates == [{"mapRunArn": MAP_RUN, "maxConcurrency": 2}]
    # the second success (one counted) keeps 2, asking for nothing
    second = MapRuns({"succeeded": 1}, at=2)
    assert waverun.ramp(second, ledger, EXECUTION, RUN, ceiling=8)["changed"] is False
    assert second.updates == []
    # no limit (0) is never lowered to a level
    unlimited = MapRuns({"succeeded": 5}, at=0)
    assert waverun.ramp(unlimited, ledger, EXECUTION, RUN, ceiling=8)["changed"] is False
    assert unlimited.updates == []


def test_a_refused_update_is_the_services_error_and_the_step_was_kept_first(
    ledger: Ledger,
) -> None:
    from botocore.exceptions import ClientError

    from v6migrate.errors import TransientError

    class Busy(MapRuns):
        def update_map_run(self, **kwargs: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "UpdateMapRun",
            )

    with pytest.raises(TransientError):
        waverun.ramp(Busy({"succeeded": 0}, at=1), ledger, EXECUTION, RUN, ceiling=4)
    assert [a["action"] for a in ledger.read_control(RUN)["actions"]] == ["ramp"]


def test_a_running_waves_clusters_are_read_from_pages_of_runs_back_to_the_waves_start() -> None:
    """GET /waves reads each cluster's run from ListExecutions (most recent first, Step
    Functions API reference), a page per thousand runs, and stops at the wave's start."""
    import datetime

    start = datetime.datetime(2027, 1, 1, 9, 0, tzinfo=datetime.UTC)

    def run(name: str, minutes: int, status: str = "RUNNING") -> dict[str, Any]:
        return {"name": name, "status": status,
                "startDate": start + datetime.timedelta(minutes=minutes)}  # fmt: skip

    class Runs:
        def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
            self.pages, self.read = pages, 0

        def get_paginator(self, name: str) -> Any:
            assert name == "list_executions"
            return self

        def paginate(self, stateMachineArn: str) -> Any:
            assert stateMachineArn == "machine"
            for page in self.pages:
                self.read += 1
                yield {"executions": page}

    pages = [
        [run("w-a", 9), run("other-wave-x", 8), run("w-b", 5, "SUCCEEDED")],
        [run("w-c", 1, "FAILED"), run("before-the-wave", -1)],
        [run("long-ago", -600)],  # never read: the page before ended with an older run
    ]
    listed = Runs(pages)
    found = waverun.child_statuses(listed, "machine", {"w-a", "w-b", "w-c", "w-d"}, start)
    assert found == {"w-a": "RUNNING", "w-b": "SUCCEEDED", "w-c": "FAILED"}  # w-d: not started
    assert listed.read == 2
    # Once every cluster is found, no further page is read
    early = Runs(pages)
    assert waverun.child_statuses(early, "machine", {"w-a", "w-b"}, start) == {
        "w-a": "RUNNING", "w-b": "SUCCEEDED"}  # fmt: skip
    assert early.read == 1
