"""Routes of running waves: read one, and steer it (pause, resume, abort, change its
concurrency or tolerance). Each needs a scope of every account the wave reaches."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import Field, model_validator

from v6migrate import policy as platform
from v6migrate import waverun
from v6migrate.apply import default_ledger
from v6migrate.models import Frozen
from v6migrate.observability import logger
from v6migrate.rest.common import MIGRATION_ID, Execution, caller, machine, sfn, wave_machine

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
