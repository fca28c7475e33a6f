"""The dashboard (template.yaml, MigrationsDashboard) reads what the functions write: a metric
it names that no function emits, or a stage it leaves out, is an empty line on an operator's
screen that looks like "nothing happened"."""

from __future__ import annotations

import json
import re
from pathlib import Path

from local.template import load
from v6migrate.models import STAGES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "v6migrate"


def _dashboard_metrics() -> list[list[str]]:
    body = load(ROOT / "template.yaml")["Resources"]["MigrationsDashboard"]["Properties"]
    text = re.sub(r"\$\{[^}]+\}", "x", body["DashboardBody"]["Fn::Sub"])
    widgets = json.loads(text)["widgets"]
    return [m for w in widgets for m in w["properties"].get("metrics", [])]


def _emitted() -> set[str]:
    source = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    names = set(re.findall(r'name="([A-Z][A-Za-z]+)"', source))
    # validate picks one of two names at run time
    names |= set(re.findall(r'"(Migrations[A-Za-z]+|Validations[A-Za-z]+)" if ', source))
    names |= set(re.findall(r'else "((?:Migrations|Validations)[A-Za-z]+)"', source))
    return names


def test_every_metric_of_ours_on_the_dashboard_is_one_a_function_emits() -> None:
    # Given the dashboard's metrics in the functions' namespace
    ours = {m[1] for m in _dashboard_metrics() if m[0] == "v6migrate"}
    # Then each is written by the package (Powertools metrics)
    assert ours
    assert ours <= _emitted(), ours - _emitted()


def test_the_dashboard_shows_the_duration_of_every_stage_that_reports_one() -> None:
    # Given the stages that time themselves (apply's four, and validation)
    reported = {*STAGES, "validate"}
    # When the dashboard's StageDuration lines are read
    shown = {
        dict(zip(m[2::2], m[3::2], strict=True))["stage"]
        for m in _dashboard_metrics()
        if m[:2] == ["v6migrate", "StageDuration"]
    }
    # Then each stage has its line, under the service dimension the functions add
    assert shown == reported
    for m in _dashboard_metrics():
        if m[0] == "v6migrate":
            assert dict(zip(m[2::2], m[3::2], strict=True)).get("service") == "v6migrate", m
