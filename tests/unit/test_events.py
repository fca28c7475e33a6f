"""docs/events.md is the generated reference of the event models: it cannot drift."""

from __future__ import annotations

from pathlib import Path

from v6migrate.events import EVENT_TYPES, reference, schema_files

DOCS = Path(__file__).resolve().parents[2] / "docs/events.md"


def test_event_reference_matches_the_models() -> None:
    assert DOCS.read_text().rstrip("\n") == reference().rstrip("\n"), "run `make docs`"


def test_every_event_type_has_its_schema_in_docs_events_and_no_other() -> None:
    folder = DOCS.parent / "events"
    written = {path.name: path.read_text() for path in folder.glob("*.json")}
    assert written == schema_files(), "run `make docs`"
    assert len(written) == len(EVENT_TYPES)


def test_the_committed_openapi_document_is_the_one_the_api_function_generates() -> None:
    from tooling.openapi import text

    written = (Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text()
    assert written == text(), "run `make docs`"
