"""Routes of migrations: plan one (a dry run), start one, read where one stands. Each is
authorised by the platform's scopes for the account it acts on, and a started run's approval
policy is the platform's, which the request may tighten and never loosen."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import Field

from v6migrate import approval, runs
from v6migrate import policy as platform
from v6migrate.apply import default_ledger
from v6migrate.models import Frozen, MigrationRequest
from v6migrate.observability import logger
from v6migrate.rest.common import (
    MIGRATION_ID,
    ClientToken,
    Execution,
    caller,
    machine,
    own_account,
    refuse,
    sfn,
)

router = Router()


class PlanBody(MigrationRequest):
    """A dry run: discover and plan, change nothing (`mode` may only be `plan`)."""

    client_token: ClientToken | None = Field(
        default=None, description="The same token (from the same caller) names the same run."
    )


class MigrationBody(MigrationRequest):
    """Start a migration; `mode: apply` changes the network once approved. The requester is
    the API's caller: `approval.requested_by` may not be given, nor a `wave_id` (waves start
    their own runs)."""

    client_token: ClientToken = Field(
        description="A retried start with the same token (same caller, same body) answers "
        "with the run the first one started instead of starting another."
    )


class Started(Frozen):
    migration_id: str
    execution_arn: str
    mode: Literal["plan", "apply"]
    requested_by: str
    replayed: bool = Field(description="True when the client token named a run already started.")


class Changes(Frozen):
    planned: int
    by_status: dict[str, int]
    progress: float | None = Field(description="Changes in effect over changes planned.")


class MigrationStatus(Execution):
    migration_id: str
    changes: Changes
    approval: dict[str, Any] | None
    validation: dict[str, Any] | None
    output: Any = Field(default=None, description="A plan's summary, an apply's report.")


STARTED: dict[int, Any] = {
    201: {"description": "Started", "content": {"application/json": {"model": Started}}},
    200: {"description": "Started before, by a request with this client token",
          "content": {"application/json": {"model": Started}}},
}  # fmt: skip


def _start(request: MigrationRequest, token: str | None, by: str) -> Response[Any]:
    name = runs.execution_name(request, token, by)
    arn, started = runs.start(sfn(), machine(), request, name)
    logger.info("migration started" if started else "migration replayed",
                extra={"migration_id": name, "caller": by})  # fmt: skip
    body = Started(
        migration_id=name, execution_arn=arn, mode=request.mode, requested_by=by,
        replayed=not started,
    )  # fmt: skip
    return Response(
        status_code=201 if started else 200, content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(), headers={"Location": f"/migrations/{name}"},
    )  # fmt: skip


def _request(body: MigrationRequest) -> MigrationRequest:
    return MigrationRequest.model_validate(body.model_dump(exclude={"client_token"}))


def _account(request: MigrationRequest) -> str:
    """The account a request acts on: its own, or (none given) the stack's."""
    return request.account_id or own_account()


@router.post("/plans", summary="Plan a migration (a dry run)", responses=STARTED)
def post_plans(body: PlanBody) -> Response[Any]:
    if body.mode != "plan":
        return refuse("body.mode", "POST /plans only plans: start a run with POST /migrations")
    by, request = caller(router), _request(body)
    platform.authorise(platform.platform_policy(), by, _account(request), "plan")
    return _start(request, body.client_token, by)


@router.post("/migrations", summary="Start a migration", responses=STARTED)
def post_migrations(body: MigrationBody) -> Response[Any]:
    if body.approval.requested_by is not None:
        return refuse("body.approval.requested_by", "set by the API: the caller")
    if body.approval.preapproved_plan_hash is not None:
        return refuse("body.approval.preapproved_plan_hash", "set by a wave its approvers approved")
    if body.approval.people_by_session:
        return refuse("body.approval.people_by_session", "set by the platform's approval policy")
    if body.wave_id is not None:
        return refuse("body.wave_id", "set by a wave, not by a caller")
    by, request = caller(router), _request(body)
    asked = request.approval.model_copy(update={"requested_by": by})
    account, rules = _account(request), platform.platform_policy()
    platform.authorise(rules, by, account, "start runs on")
    if request.mode == "apply":
        # Refused here with the reason (403) before anything starts; preflight applies the
        # same policy to every run however it was started
        asked = platform.effective(rules, asked, account)
    return _start(request.model_copy(update={"approval": asked}), body.client_token, by)


@router.get("/migrations/<migration_id>", summary="Where a migration stands")
def get_migration(
    migration_id: Annotated[str, Path(pattern=MIGRATION_ID)],
) -> MigrationStatus:
    by, rules = caller(router), platform.platform_policy()

    def may_read(account_id: str | None) -> None:
        platform.authorise(rules, by, account_id or own_account(), "read runs on")

    found = runs.status(
        sfn(), default_ledger(), approval.default_approvals(), machine(), migration_id, may_read
    )
    return MigrationStatus.model_validate(found)
