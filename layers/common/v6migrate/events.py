"""The events v6migrate puts on its bus: names and detail schemas (docs/events.md is made here).

The state machine emits them through the native `events:putEvents` integration; the detail
models below are the contract its `Parameters` follow (tests/asl checks the common fields).
"""

from __future__ import annotations

import json
from typing import Any

from v6migrate.models import Finding, Frozen, StageEventDetail, ValidationReport

SOURCE = "v6migrate"


class MigrationPlannedDetail(StageEventDetail):
    mode: str
    blocked: bool
    counts: dict[str, int]
    blockers: tuple[Finding, ...]


class StageFailedDetail(StageEventDetail):
    error: str


class StageSucceededDetail(StageEventDetail):
    validation: ValidationReport | None = None  # the validate stage's report


class MigrationSucceededDetail(StageEventDetail):
    stages: dict[str, Any]  # each stage's report or last progress
    validation: ValidationReport


class MigrationRolledBackDetail(StageEventDetail):
    error: str
    reverted: tuple[str, ...]
    kept: tuple[str, ...]


class ApprovalRequestedDetail(StageEventDetail):
    approval_id: str  # what a decision names (the run's task token never leaves AWS)
    counts: dict[str, int]
    changes: tuple[str, ...]  # the first changes, as people read them
    omitted_changes: int
    approvers: tuple[str, ...]
    required: int
    expires_at: int  # epoch seconds
    changed: tuple[str, ...] = ()  # asked again: what moved since the earlier approval
    warnings: tuple[str, ...] = ()  # preflight's warnings; for a wave, a hold on the waves


class ApprovalDecidedDetail(StageEventDetail):
    approval_id: str
    decision: str  # approve | reject
    decided_by: str
    status: str  # pending (more approvers needed) | approved | rejected
    approvers: tuple[str, ...]


class BreakGlassRunDetail(StageEventDetail):
    requested_by: str  # the break-glass principal of the platform's policy who asked
    mode: str  # none (no approval) | self-approval (the requester may approve it)
    approvers: tuple[str, ...]


class WaveCompletedDetail(StageEventDetail):
    """`migration_id` is the wave run's execution name; account, Region and cluster are null
    (a wave spans many)."""

    status: str  # succeeded | succeeded-within-tolerance | stopped | bake-failed | frozen | aborted
    counts: dict[str, int]  # planned, succeeded, failed, blocked
    approved_by: tuple[str, ...]
    clusters: tuple[
        dict[str, Any], ...
    ]  # each cluster's run: status, seconds; recheck after the bake; a rollback's counts
    blocked: tuple[dict[str, Any], ...]  # each blocked cluster and why


class EventType(Frozen):
    detail_type: str
    when: str
    detail: type[StageEventDetail]


EVENT_TYPES = (
    EventType(detail_type="Stage Started", when="a stage begins", detail=StageEventDetail),
    EventType(
        detail_type="Stage Succeeded",
        when="a stage ends well (validate: with its report)",
        detail=StageSucceededDetail,
    ),
    EventType(
        detail_type="Stage Failed",
        when="a stage fails (the error's class name, never its text)",
        detail=StageFailedDetail,
    ),
    EventType(
        detail_type="Migration Planned",
        when="Preflight has made the plan",
        detail=MigrationPlannedDetail,
    ),
    EventType(
        detail_type="Approval Requested",
        when="an apply run's plan waits for approval (again, naming what changed, if the plan "
        "moved before the first change)",
        detail=ApprovalRequestedDetail,
    ),
    EventType(
        detail_type="Break Glass Run",
        when="an apply run goes without approval, or with its requester's own, only because "
        "its requester is a break-glass principal of the platform's approval policy (before "
        "any change; a metric and an alarm too)",
        detail=BreakGlassRunDetail,
    ),
    EventType(
        detail_type="Approval Decided",
        when="an approver approved or rejected (status: whether that settled it)",
        detail=ApprovalDecidedDetail,
    ),
    EventType(
        detail_type="Migration Succeeded",
        when="every stage is applied and validation passed",
        detail=MigrationSucceededDetail,
    ),
    EventType(
        detail_type="Migration Rolled Back",
        when="a failure was compensated (reverted: changes undone; kept: left on purpose)",
        detail=MigrationRolledBackDetail,
    ),
    EventType(
        detail_type="Wave Started",
        when="a wave run begins (`migration_id` is the wave run's name)",
        detail=StageEventDetail,
    ),
    EventType(
        detail_type="Wave Completed",
        when="a wave run ends: its evidence (who approved, each cluster's run, the blocked)",
        detail=WaveCompletedDetail,
    ),
)


def put(events: Any, detail_type: str, detail: Frozen) -> None:
    """One event on the stack's bus; an entry the bus did not accept is an error to retry."""
    from botocore.exceptions import ClientError

    from v6migrate import aws
    from v6migrate.errors import TransientError, translate

    entry = {
        "Source": SOURCE, "DetailType": detail_type, "Detail": detail.model_dump_json(),
        "EventBusName": aws.settings().event_bus_name,
    }  # fmt: skip
    try:
        failed = events.put_events(Entries=[entry]).get("FailedEntryCount", 0)
    except ClientError as error:
        raise translate(error, "events:PutEvents") from error
    if failed:
        raise TransientError(f"events:PutEvents: the {detail_type} event was not accepted")


def reference() -> str:
    """docs/events.md, generated from the models."""
    lines = [
        "# Events",
        "",
        "Generated by `make docs` from `layers/common/v6migrate/events.py`; do not edit by hand.",
        "",
        f"Bus `v6migrate`, source `{SOURCE}`. Every detail carries `migration_id` (the "
        "execution name), `wave_id`, `account_id`, `region`, `cluster` and `stage`.",
        "",
        "Subscribe with an EventBridge rule on the bus, for example "
        '`{"source": ["v6migrate"], "detail-type": ["Stage Failed"]}`.',
        "",
    ]
    for event in EVENT_TYPES:
        schema = event.detail.model_json_schema()
        lines += [
            f"## {event.detail_type}",
            "",
            f"When {event.when}.",
            "",
            "```json",
            json.dumps(schema, indent=2, sort_keys=True),
            "```",
            "",
        ]
    return "\n".join(lines)


def slug(detail_type: str) -> str:
    """`Approval Requested` -> `approval-requested` (docs/events/<slug>.json)."""
    return detail_type.lower().replace(" ", "-")


def json_schema(event: EventType) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a whole event of this type as EventBridge delivers it to a
    rule's target: `source`, `detail-type` and the detail (its model's schema, no extra field).
    Generated into docs/events/ by `make docs`; consumers validate against it."""
    detail = event.detail.model_json_schema(ref_template="#/$defs/{model}")
    definitions = detail.pop("$defs", {})
    definitions[event.detail.__name__] = detail
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://v6migrate.dev/events/{slug(event.detail_type)}.json",
        "title": event.detail_type,
        "description": f"Put on the v6migrate bus when {event.when}.",
        "type": "object",
        "required": ["source", "detail-type", "detail"],
        "properties": {
            "source": {"const": SOURCE},
            "detail-type": {"const": event.detail_type},
            "detail": {"$ref": f"#/$defs/{event.detail.__name__}"},
        },
        "$defs": definitions,
    }


def schema_files() -> dict[str, str]:
    """docs/events/<slug>.json for every event type, as `make docs` writes them."""
    return {
        f"{slug(e.detail_type)}.json": json.dumps(json_schema(e), indent=2, sort_keys=True) + "\n"
        for e in EVENT_TYPES
    }


# What JSON Schema Draft 4 knows (the EventBridge schema registry takes `JSONSchemaDraft4` or
# `OpenApi3`: AWS::EventSchemas::Schema, Type). Anything else in a generated schema is an error
# here, not a keyword the registry would silently ignore.
_DRAFT4 = {
    "$schema", "id", "$ref", "title", "description", "default", "type", "enum", "properties",
    "additionalProperties", "required", "items", "anyOf", "allOf", "oneOf", "not",
    "definitions", "minimum", "maximum", "minLength", "maxLength", "pattern", "format",
    "minItems", "maxItems", "uniqueItems", "patternProperties", "minProperties",
    "maxProperties", "multipleOf",
}  # fmt: skip


def draft4(schema: dict[str, Any]) -> dict[str, Any]:
    """The event's 2020-12 schema (`json_schema`) as Draft 4 says the same: `$defs` become
    `definitions`, `const` a one-value `enum`, `$id` `id`."""

    def convert(node: Any, keywords: bool = True) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if not keywords:  # a map of names (properties, definitions): each value a schema
            return {name: convert(value) for name, value in node.items()}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$schema":
                out[key] = "http://json-schema.org/draft-04/schema#"
            elif key == "$id":
                out["id"] = value
            elif key == "$defs":
                out["definitions"] = convert(value, keywords=False)
            elif key == "$ref":
                out[key] = str(value).replace("#/$defs/", "#/definitions/")
            elif key == "const":
                out["enum"] = [value]
            elif key in ("properties", "patternProperties"):
                out[key] = convert(value, keywords=False)
            elif key in _DRAFT4:
                out[key] = convert(value) if key not in ("enum", "default", "required") else value
            else:
                raise ValueError(f"no Draft 4 form for the keyword {key!r}")
        return out

    converted: dict[str, Any] = convert(schema)
    return converted


def registry_name(detail_type: str) -> str:
    """`Approval Requested` -> `v6migrate@ApprovalRequested`: the `<source>@<DetailType>` names
    schema discovery gives an event's schema."""
    return f"{SOURCE}@{detail_type.replace(' ', '')}"


def registry_schemas() -> dict[str, str]:
    """Each event type's Draft 4 schema as the registry keeps it (compact JSON), by name."""
    return {
        registry_name(e.detail_type): json.dumps(draft4(json_schema(e)), sort_keys=True,
                                                 separators=(",", ":"))
        for e in EVENT_TYPES
    }  # fmt: skip
