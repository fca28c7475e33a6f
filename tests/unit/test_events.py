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


def test_the_templates_schema_registry_is_the_one_the_models_generate() -> None:
    from tooling.event_registry import TEMPLATE, rewritten

    template = TEMPLATE.read_text()
    assert template == rewritten(template), "run `make docs`"


def test_every_event_type_is_registered_as_the_same_schema_in_draft_4() -> None:
    # CloudFormation, AWS::EventSchemas::Schema: Type is OpenApi3 or JSONSchemaDraft4
    import json

    from jsonschema import Draft4Validator, Draft202012Validator

    from local.template import load
    from v6migrate.events import json_schema, registry_name

    resources = load(DOCS.parents[1] / "template.yaml")["Resources"]
    registered = {
        r["Properties"]["SchemaName"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EventSchemas::Schema"
    }
    assert set(registered) == {registry_name(e.detail_type) for e in EVENT_TYPES}
    for event in EVENT_TYPES:
        entry = registered[registry_name(event.detail_type)]
        assert entry["Type"] == "JSONSchemaDraft4"
        assert entry["RegistryName"] == {"Fn::GetAtt": ["EventSchemaRegistry", "RegistryName"]}
        draft4 = json.loads(entry["Content"])
        Draft4Validator.check_schema(draft4)
        # the two forms take and refuse the same events: one of this type, and one with an
        # unknown detail field or the wrong detail-type
        newer = json_schema(event)
        name = newer["properties"]["detail"]["$ref"].rsplit("/", 1)[1]
        detail_schema = newer["$defs"][name]
        detail = {
            k: _example(detail_schema["properties"][k], newer["$defs"])
            for k in detail_schema.get("required", [])
        }
        good = {"source": "v6migrate", "detail-type": event.detail_type, "detail": detail}
        for candidate in (good, {**good, "detail": {**detail, "unknown": 1}},
                          {**good, "detail-type": "Something Else"}):  # fmt: skip
            assert Draft4Validator(draft4).is_valid(candidate) == Draft202012Validator(
                newer
            ).is_valid(candidate), (event.detail_type, candidate)
        assert Draft4Validator(draft4).is_valid(good), event.detail_type


def _example(schema: dict[str, object], definitions: dict[str, object]) -> object:
    """A value the schema takes (the first alternative, the first enum value)."""
    if "$ref" in schema:
        return _example(definitions[str(schema["$ref"]).rsplit("/", 1)[1]], definitions)  # type: ignore[arg-type]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]  # type: ignore[index]
    if "anyOf" in schema:
        return _example(schema["anyOf"][0], definitions)  # type: ignore[index]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {k: _example(properties[k], definitions) for k in schema.get("required", [])}  # type: ignore[index,union-attr,attr-defined]
    return {"string": "x", "integer": 1, "number": 1.5, "boolean": True, "array": [],
            "null": None}[str(kind)]  # fmt: skip


def test_a_keyword_draft_4_does_not_know_is_refused() -> None:
    import pytest

    from v6migrate.events import draft4

    with pytest.raises(ValueError, match="prefixItems"):
        draft4({"type": "array", "prefixItems": [{"type": "string"}]})
    assert draft4({"properties": {"const": {"const": 1}}}) == {
        "properties": {"const": {"enum": [1]}}
    }
