"""docs/iam.md says what template.yaml grants (issue 27, item 4): every function has a row in
the tooling account's table, and every action its inline policies grant is named in that row,
so the table a reviewer reads cannot fall behind the template."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from local.template import load

ROOT = Path(__file__).resolve().parents[2]


def _rows() -> dict[str, str]:
    """The tooling account's table: each principal cell's names, with their row's text."""
    text = (ROOT / "docs/iam.md").read_text().split("## Tooling account", 1)[1].split("\n## ")[0]
    rows: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| principal") or line.startswith("|---"):
            continue
        principal = line.split("|")[1]
        for name in re.findall(r"[A-Z][A-Za-z]+", principal):
            rows[name] = rows.get(name, "") + line
    return rows


def _actions(function: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for policy in function["Properties"].get("Policies", []):
        if not isinstance(policy, dict):
            continue
        for statement in policy.get("Statement", []):
            if "Fn::If" in statement:
                statement = statement["Fn::If"][1]
            actions = statement["Action"]
            found.update([actions] if isinstance(actions, str) else actions)
    return found


def test_every_action_a_function_is_granted_is_in_its_row_of_docs_iam() -> None:
    resources = load(ROOT / "template.yaml")["Resources"]
    rows = _rows()
    missing = {}
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        row = rows.get(logical) or rows.get(logical.removesuffix("Function"), "")
        assert row, f"docs/iam.md has no row for {logical}"
        absent = sorted(
            action for action in _actions(resource)
            if f"`{action}`" not in row and f"`{action.split(':', 1)[1]}`" not in row
        )  # fmt: skip
        if absent:
            missing[logical] = absent
    assert not missing, missing
