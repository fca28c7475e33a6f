"""`python -m tooling.asl_budget` (in `make bench`): each machine's worst case of history events,
its loops, and a last line with the worst; exit 0 only when every machine is below the quota."""

from __future__ import annotations

import re

import pytest

from tooling import asl_budget


def test_the_budget_report_names_each_machine_and_ends_below_the_quota(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert asl_budget.main() == 0
    out = capsys.readouterr().out.splitlines()
    machines = [line for line in out if " events of 25000" in line]
    assert {line.split(" (")[0] for line in machines} == {
        "MigrationStateMachine", "WaveStateMachine"}  # fmt: skip
    assert any(line.startswith("  loop NodeRollout") for line in out)
    last = re.fullmatch(r"worst=(\d+) quota=25000", out[-1])
    assert last, out[-1]
    assert int(last.group(1)) == max(int(re.search(r"at most (\d+)", line).group(1))  # type: ignore[union-attr]
                                     for line in machines) < asl_budget.QUOTA  # fmt: skip


def test_an_inline_map_without_a_bound_on_its_items_is_refused() -> None:
    processor = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    each = {"Type": "Map", "ItemsPath": "$.items", "End": True, "ItemProcessor": processor}
    inline = {"StartAt": "Each", "States": {"Each": each}}
    with pytest.raises(ValueError, match="inline Map Each has no bound"):
        asl_budget.worst_case("test", inline, {})
