"""docs/events.md is the generated reference of the event models: it cannot drift."""

from __future__ import annotations

from pathlib import Path

from v6migrate.events import reference

DOCS = Path(__file__).resolve().parents[2] / "docs/events.md"


def test_event_reference_matches_the_models() -> None:
    assert DOCS.read_text().rstrip("\n") == reference().rstrip("\n"), "run `make docs`"
