"""The Preflight handler: thin, validated at the edge, typed errors out."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from v6migrate.errors import ClusterNotFound

ROOT = Path(__file__).resolve().parents[2]
EVENT = json.loads((ROOT / "tests/events/preflight_input.json").read_text())


def _handler(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"fn_{name}", ROOT / f"functions/{name}/app.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def test_preflight_returns_the_plan_summary(
    small_estate: dict[str, Any], lambda_context: Any
) -> None:
    # Given the small estate and the state machine's input
    # When the handler runs
    summary = _handler("preflight")(EVENT, lambda_context)
    # Then it returns a JSON summary with counts per stage and readable changes
    assert summary["migration_id"] == EVENT["migration_id"]
    assert summary["blocked"] is False
    assert set(summary["counts"]) == {"vpc", "attachments", "cni", "nodes"}
    assert summary["counts"]["vpc"] > 0
    assert json.loads(json.dumps(summary)) == summary
    assert all({"stage", "change_id", "text", "reversible"} <= set(c) for c in summary["changes"])


def test_preflight_refuses_an_invalid_request(moto: None, lambda_context: Any) -> None:
    bad = {**EVENT, "request": {**EVENT["request"], "account_id": "22"}}
    with pytest.raises(ValidationError):
        _handler("preflight")(bad, lambda_context)


def test_preflight_raises_a_typed_error_for_an_unknown_cluster(
    small_estate: dict[str, Any], lambda_context: Any
) -> None:
    unknown = {**EVENT, "request": {**EVENT["request"], "cluster": "ghost"}}
    with pytest.raises(ClusterNotFound):
        _handler("preflight")(unknown, lambda_context)


def test_summary_lists_the_first_changes_and_counts_the_rest() -> None:
    from tests.unit.estates import inventory
    from v6migrate.models import MigrationRequest, PlanOptions
    from v6migrate.plan import plan
    from v6migrate.preflight import summarise

    result = plan(inventory(), PlanOptions())
    request = MigrationRequest(cluster="orders", region="eu-west-1")
    summary = summarise(result, request, "m-1", limit=5)
    assert len(summary.changes) == 5
    assert summary.omitted_changes == len(result.changes) - 5
    assert sum(summary.counts.values()) == len(result.changes)
