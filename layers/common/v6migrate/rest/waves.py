"""Routes of waves: start one, keep the scheduled ones' schedules, read a running one, and
steer it (pause, resume, abort, change its concurrency or tolerance). Each needs a scope of
every account the wave reaches. Starting and scheduling record the caller as the wave's
requester (the ledger's wave request), which the wave run reads: never its input."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

import boto3
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from botocore.exceptions import ClientError
from pydantic import Field, model_validator

from v6migrate import aws, runs, waverun, waves
from v6migrate import policy as platform
from v6migrate.apply import default_ledger
from v6migrate.errors import V6MigrateError, translate
from v6migrate.models import Frozen
from v6migrate.observability import logger
from v6migrate.rest.common import (
    MIGRATION_ID,
    ClientToken,
    Execution,
    caller,
    machine,
    sfn,
    wave_machine,
)
from v6migrate.waves import ScheduleChange, WaveSpec

router = Router()

RunId = Annotated[str, Path(pattern=MIGRATION_ID)]


class SteerBody(Frozen):
    """Why (kept with the action in the wave's record)."""

    reason: str = Field(default="", max_length=500)


class WaveUpdateBody(SteerBody):
    """New settings for the running wave's Map Run (UpdateMapRun): they apply to the clusters
    not yet started. The new concurrency is also the ramp's ceiling from then on."""

    max_concurrency: int | None = Field(default=None, ge=1, le=100)
    tolerated_failure_count: int | None = Field(default=None, ge=0)
    tolerated_failure_percentage: float | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _something(self) -> WaveUpdateBody:
        if (self.max_concurrency, self.tolerated_failure_count,
                self.tolerated_failure_percentage) == (None, None, None):  # fmt: skip
            raise ValueError("name max_concurrency, tolerated_failure_count or "
                             "tolerated_failure_percentage")  # fmt: skip
        return self


class MapSettings(Frozen):
    max_concurrency: int | None
    tolerated_failure_count: int | None
    tolerated_failure_percentage: float | None


class MapRunNow(MapSettings):
    status: str | None
    item_counts: dict[str, int] | None


class WaveStatus(Execution):
    run_id: str
    wave_id: str
    paused: bool
    aborted: bool
    map_run: MapRunNow | None = Field(description="Its clusters' Map Run, once started.")
    clusters: list[dict[str, Any]] = Field(
        description="Each cluster to start, and its run's status."
    )
    blocked: list[dict[str, Any]]
    actions: list[dict[str, Any]] = Field(description="Operators' and the ramp's actions.")
    report: dict[str, Any] | None = Field(description="The wave's evidence, once it reported.")


class Steered(MapSettings):
    """The wave's control record: the settings operators gave (None: the wave's own)."""

    run_id: str
    paused: bool
    aborted: bool
    actions: list[dict[str, Any]]


class WaveStartBody(Frozen):
    """Start a wave now. Its requester is the API's caller."""

    wave: WaveSpec
    client_token: ClientToken = Field(
        description="A retried start with the same token (same caller, same wave) answers "
        "with the wave run the first one started instead of starting another."
    )


class WaveStarted(Frozen):
    run_id: str
    execution_arn: str
    requested_by: str
    replayed: bool = Field(description="True when the client token named a run already started.")


class SchedulesBody(Frozen):
    """The scheduled waves the group's schedules should start (waves.yaml's waves): a schedule
    is made for each scheduled wave, changed where it differs, and deleted where its wave is
    no longer here or no longer scheduled. The caller becomes the requester of each wave whose
    schedule this makes or changes."""

    waves: tuple[WaveSpec, ...] = Field(max_length=50)
    dry_run: bool = Field(default=False, description="Answer the changes, make none.")

    @model_validator(mode="after")
    def _unique(self) -> SchedulesBody:
        ids = [wave.id for wave in self.waves]
        if len(set(ids)) != len(ids):
            raise ValueError("wave ids must be unique")
        return self


class ScheduleChanged(Frozen):
    schedule: str
    change: ScheduleChange
    fields: list[str] = Field(description="What an update changes.")
    expression: str | None
    timezone: str | None


class Schedules(Frozen):
    requested_by: str
    dry_run: bool
    changes: list[ScheduleChanged]
    not_scheduled: list[str] = Field(description="Waves without a schedule: start them by hand.")


STARTED: dict[int, Any] = {
    201: {"description": "Started", "content": {"application/json": {"model": WaveStarted}}},
    200: {"description": "Started before, by a request with this client token",
          "content": {"application/json": {"model": WaveStarted}}},
}  # fmt: skip


def _may_ask_for(wave: WaveSpec, by: str, action: str, rules: platform.PlatformPolicy) -> None:
    """Refused (403) unless the platform's scopes give the caller every account the wave
    names (and every account, for organisational units), and, for a wave that changes
    networks, unless its approval is one the platform's policy allows from this caller."""
    accounts = waves.scope_of(wave.model_dump(mode="json"))
    for account in accounts:
        platform.authorise(rules, by, account, action)
    named = [a for a in accounts if a != "*"]
    if wave.mode == "apply" and named:  # the wave's run applies it again, OUs resolved
        asked = wave.approval.model_copy(update={"requested_by": by})
        platform.effective_across(rules, asked, named)


@router.post("/waves", summary="Start a wave", responses=STARTED)
def post_waves(body: WaveStartBody) -> Response[Any]:
    by, wave = caller(router), body.wave
    _may_ask_for(wave, by, "start waves on", platform.platform_policy())
    digest = hashlib.sha256(f"{by}\n{body.client_token}".encode()).hexdigest()[:20]
    name = f"{wave.id}-t{digest}"
    request_id = f"start:{name}"
    default_ledger().record_wave_request(request_id, by, waves.wave_digest(wave))
    started_input = {"wave": wave.model_dump(mode="json"), "request": request_id}
    arn, started = runs.start(sfn(), wave_machine(), started_input, name)
    logger.info("wave started" if started else "wave replayed",
                extra={"run_id": name, "wave_id": wave.id, "caller": by})  # fmt: skip
    answer = WaveStarted(run_id=name, execution_arn=arn, requested_by=by, replayed=not started)
    return Response(
        status_code=201 if started else 200, content_type=content_types.APPLICATION_JSON,
        body=answer.model_dump_json(), headers={"Location": f"/waves/{name}"},
    )  # fmt: skip


def _scheduler_settings() -> tuple[str, str]:
    found = aws.settings()
    if not (found.wave_schedule_group and found.wave_scheduler_role_arn):
        raise V6MigrateError(
            "V6MIGRATE_WAVE_SCHEDULE_GROUP and V6MIGRATE_WAVE_SCHEDULER_ROLE_ARN must be set"
        )
    return found.wave_schedule_group, found.wave_scheduler_role_arn


@router.put("/waves/schedules", summary="Keep one schedule per scheduled wave")
def put_wave_schedules(body: SchedulesBody) -> Schedules:
    by = caller(router)
    group, role = _scheduler_settings()
    scheduler = boto3.client("scheduler", config=aws.retries())
    try:
        existing = {
            s["Name"]: scheduler.get_schedule(GroupName=group, Name=s["Name"])
            for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group)
            for s in page["Schedules"]
        }
        plan = waves.schedule_plan(body.waves, existing, wave_machine(), role, group)
        by_name = {waves.schedule_name(w): w for w in body.waves}
        rules = platform.platform_policy()
        for change, name, _, _ in plan:
            if change == "unchanged":
                continue
            if name in by_name:
                _may_ask_for(by_name[name], by, "schedule waves on", rules)
            if name in existing:  # changing or deleting a schedule: its wave's accounts too
                was = json.loads(existing[name]["Target"].get("Input") or "{}").get("wave")
                for account in waves.scope_of(was):
                    platform.authorise(rules, by, account, "schedule waves on")
        if not body.dry_run:
            ledger = default_ledger()
            for change, name, request, _ in plan:
                request_id = f"schedule:{name}"
                if change in ("create", "update"):
                    assert request is not None
                    ledger.record_wave_request(request_id, by, waves.wave_digest(by_name[name]))
                    (scheduler.create_schedule if change == "create"
                     else scheduler.update_schedule)(**request)  # fmt: skip
                elif change == "delete":
                    ledger.record_wave_request(request_id, by, "")  # no wave: refused if started
                    scheduler.delete_schedule(GroupName=group, Name=name)
                logger.info("wave schedule kept", extra={"schedule": name, "change": change,
                                                         "caller": by})  # fmt: skip
    except ClientError as error:
        raise translate(error, "scheduler") from error
    return Schedules(
        requested_by=by, dry_run=body.dry_run,
        changes=[
            ScheduleChanged(
                schedule=name, change=change, fields=fields,
                expression=request["ScheduleExpression"] if request else None,
                timezone=request["ScheduleExpressionTimezone"] if request else None,
            )
            for change, name, request, fields in plan
        ],
        not_scheduled=[w.id for w in body.waves if w.schedule is None],
    )  # fmt: skip


STEERED: dict[int, Any] = {
    200: {"description": "Kept, and in effect for the clusters not yet started",
          "content": {"application/json": {"model": Steered}}},
}  # fmt: skip


def _may_act_on_wave(run_id: str, by: str, action: str) -> None:
    """Refuse a caller the platform's scopes do not give every account the wave reaches (its
    clusters, as resolved; before that, only a scope of every account will do)."""
    kept = default_ledger().read_note(run_id, "wave") or {}
    accounts = sorted({str(c["account_id"]) for c in kept.get("clusters", []) if "account_id" in c})
    rules = platform.platform_policy()
    for account in accounts or ["*"]:
        platform.authorise(rules, by, account, action)


@router.get("/waves/<run_id>", summary="Where a wave run stands")
def get_wave(run_id: RunId) -> WaveStatus:
    _may_act_on_wave(run_id, caller(router), "read waves on")
    found = waverun.status(sfn(), default_ledger(), wave_machine(), machine(), run_id)
    return WaveStatus.model_validate(found)


def _steer(run_id: str, action: waverun.Action, body: SteerBody) -> Steered:
    by = caller(router)
    _may_act_on_wave(run_id, by, f"{action} waves on")
    changes = (
        body.model_dump(exclude={"reason"}, exclude_none=True)
        if isinstance(body, WaveUpdateBody) else None
    )  # fmt: skip
    kept = waverun.control(
        sfn(), default_ledger(), wave_machine(), run_id, by, action, changes, body.reason
    )
    logger.info("wave steered", extra={"run_id": run_id, "action": action, "caller": by})
    return Steered.model_validate(
        {"run_id": run_id, "paused": False, "aborted": False, "max_concurrency": None,
         "tolerated_failure_count": None, "tolerated_failure_percentage": None, **kept}
    )  # fmt: skip


@router.patch("/waves/<run_id>", summary="Change a running wave's concurrency or tolerance",
              description="Only the wave's approvers (when it needs approval).",
              responses=STEERED)  # fmt: skip
def patch_wave(run_id: RunId, body: WaveUpdateBody) -> Steered:
    return _steer(run_id, "update", body)


BRAKES_AND_RESUME: dict[waverun.Action, tuple[str, str]] = {
    "pause": ("Start no more clusters until resumed",
              "Anyone the platform's scopes give every account of the wave may pause it: "
              "clusters running finish."),
    "resume": ("Let a paused wave start clusters again",
               "Only the wave's approvers (when it needs approval)."),
    "abort": ("Start no other cluster of this wave run, ever",
              "Anyone the platform's scopes give every account of the wave may abort it: "
              "clusters running finish (and compensate if they fail); the wave reports as "
              "aborted."),
}  # fmt: skip


def _steering(action: waverun.Action) -> Any:
    def steer(run_id: RunId, body: SteerBody) -> Steered:
        return _steer(run_id, action, body)

    return steer


for _action, (_summary, _description) in BRAKES_AND_RESUME.items():
    router.post(f"/waves/<run_id>/{_action}", summary=_summary, description=_description,
                responses=STEERED, operation_id=f"{_action}_wave")(_steering(_action))  # fmt: skip
