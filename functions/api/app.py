"""api: the REST API behind API Gateway (IAM auth): plan, start and follow migrations, decide
approvals, follow and steer running waves. API Gateway has checked the caller's SigV4
signature; the caller's ARN it passes (`requestContext.identity.userArn`) is recorded with
every action. Every body and path is validated against the models below; a bad one is a 400
that names the field."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import boto3
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, TypeAdapter, model_validator

from v6migrate import approval, aws, chatops, page, render, runs, waverun
from v6migrate import policy as platform
from v6migrate.apply import default_ledger
from v6migrate.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    TransientError,
    V6MigrateError,
)
from v6migrate.models import EntraUser, Frozen, MigrationRequest
from v6migrate.observability import entrypoint, logger

app = APIGatewayRestResolver(enable_validation=True)

MIGRATION_ID = r"^[0-9A-Za-z_-]{1,80}$"
ClientToken = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]


# ----------------------------------------------------------------------------- bodies


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


class DecisionBody(Frozen):
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=500)


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


# ----------------------------------------------------------------------------- answers


class Problem(Frozen):
    message: str
    errors: list[dict[str, str]] | None = None


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


class Execution(Frozen):
    """What a run's execution says: a migration's, a wave's."""

    execution_arn: str
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    stage: str | None = Field(description="The state the run entered last.")
    started_at: str | None
    stopped_at: str | None
    error: str | None = None
    cause: str | None = None


class MigrationStatus(Execution):
    migration_id: str
    changes: Changes
    approval: dict[str, Any] | None
    validation: dict[str, Any] | None
    output: Any = Field(default=None, description="A plan's summary, an apply's report.")


class Decided(Frozen):
    approval_id: str
    migration_id: str
    status: str
    decided_by: str
    approvers: tuple[str, ...]
    needed: int


class Confirmation(Frozen):
    """What a person signed in on the Teams confirmation page is asked (never its token)."""

    approval_id: str
    status: str
    where: dict[str, Any]
    needed: int
    approvers: tuple[str, ...]
    expires_at: int
    changes: tuple[str, ...]
    you: str


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


# ----------------------------------------------------------------------------- routes

STARTED: dict[int, Any] = {
    201: {"description": "Started", "content": {"application/json": {"model": Started}}},
    200: {"description": "Started before, by a request with this client token",
          "content": {"application/json": {"model": Started}}},
}  # fmt: skip


def _caller() -> str:
    """The ARN API Gateway's IAM authorisation established for this request."""
    identity = app.current_event.request_context.identity
    arn = identity.user_arn
    if not arn:  # a route without IAM auth never reaches here
        raise InputError("the request carries no IAM identity")
    return str(arn)


def _sfn() -> Any:
    return boto3.client("stepfunctions", config=aws.retries())


def _wave_machine() -> str:
    machine = aws.settings().wave_state_machine_arn
    if not machine:
        raise V6MigrateError("V6MIGRATE_WAVE_STATE_MACHINE_ARN is not set")
    return machine


def _machine() -> str:
    machine = aws.settings().state_machine_arn
    if not machine:
        raise V6MigrateError("V6MIGRATE_STATE_MACHINE_ARN is not set")
    return machine


def _start(request: MigrationRequest, token: str | None, caller: str) -> Response[Any]:
    name = runs.execution_name(request, token, caller)
    arn, started = runs.start(_sfn(), _machine(), request, name)
    logger.info("migration started" if started else "migration replayed",
                extra={"migration_id": name, "caller": caller})  # fmt: skip
    body = Started(
        migration_id=name, execution_arn=arn, mode=request.mode, requested_by=caller,
        replayed=not started,
    )  # fmt: skip
    return Response(
        status_code=201 if started else 200, content_type=content_types.APPLICATION_JSON,
        body=body.model_dump_json(), headers={"Location": f"/migrations/{name}"},
    )  # fmt: skip


def _refuse(field: str, problem: str) -> Response[Any]:
    return _problem(400, f"invalid request: {field}", errors=[{"field": field, "problem": problem}])


def _request(body: MigrationRequest) -> MigrationRequest:
    return MigrationRequest.model_validate(body.model_dump(exclude={"client_token"}))


@app.post("/plans", summary="Plan a migration (a dry run)", responses=STARTED)
def post_plans(body: PlanBody) -> Response[Any]:
    if body.mode != "plan":
        return _refuse("body.mode", "POST /plans only plans: start a run with POST /migrations")
    caller, request = _caller(), _request(body)
    platform.authorise(platform.platform_policy(), caller, _account(request), "plan")
    return _start(request, body.client_token, caller)


@app.post("/migrations", summary="Start a migration", responses=STARTED)
def post_migrations(body: MigrationBody) -> Response[Any]:
    if body.approval.requested_by is not None:
        return _refuse("body.approval.requested_by", "set by the API: the caller")
    if body.approval.preapproved_plan_hash is not None:
        return _refuse(
            "body.approval.preapproved_plan_hash", "set by a wave its approvers approved"
        )
    if body.wave_id is not None:
        return _refuse("body.wave_id", "set by a wave, not by a caller")
    caller = _caller()
    request = _request(body)
    policy = request.approval.model_copy(update={"requested_by": caller})
    account, rules = _account(request), platform.platform_policy()
    platform.authorise(rules, caller, account, "start runs on")
    if request.mode == "apply":
        # Refused here with the reason (403) before anything starts; preflight applies the
        # same policy to every run however it was started
        policy = platform.effective(rules, policy, account)
    return _start(request.model_copy(update={"approval": policy}), body.client_token, caller)


def _account(request: MigrationRequest) -> str:
    """The account a request acts on: its own, or (none given) the stack's."""
    return request.account_id or _own_account()


def _own_account() -> str:
    return str(boto3.client("sts", config=aws.retries()).get_caller_identity()["Account"])


@app.get("/migrations/<migration_id>", summary="Where a migration stands")
def get_migration(
    migration_id: Annotated[str, Path(pattern=MIGRATION_ID)],
) -> MigrationStatus:
    caller, rules = _caller(), platform.platform_policy()

    def may_read(account_id: str | None) -> None:
        platform.authorise(rules, caller, account_id or _own_account(), "read runs on")

    found = runs.status(
        _sfn(), default_ledger(), approval.default_approvals(), _machine(), migration_id,
        may_read,
    )  # fmt: skip
    return MigrationStatus.model_validate(found)


def _decide(approval_id: str, caller: str, body: DecisionBody) -> Decided:
    """The caller's decision (whoever API Gateway established they are), taken once."""
    events = boto3.client("events", config=aws.retries())
    outcome = approval.record(
        approval_id, caller, body.decision, body.reason, approval.default_approvals(),
        default_ledger(), events,
    )  # fmt: skip
    return Decided(
        approval_id=outcome.approval_id, migration_id=outcome.migration_id,
        status=outcome.status, decided_by=caller, approvers=outcome.approvers,
        needed=outcome.needed,
    )  # fmt: skip


@app.post("/approvals/<approval_id>", summary="Approve or reject a plan")
def post_approval(
    approval_id: Annotated[str, Path(pattern=approval.APPROVAL_ID)], body: DecisionBody
) -> Decided:
    return _decide(approval_id, _caller(), body)


SHOWN_CHANGES = approval.SHOWN_CHANGES
SIGNED_IN: dict[int, Any] = {
    401: {"description": "No ID token of the sign-in pool, or an expired one (API Gateway's)",
          "content": {"application/json": {"model": Problem}}},
}  # fmt: skip
TEAMS_AUTH = {"x-v6migrate-auth": "teams-sign-in"}  # the sign-in pool's ID token, not SigV4


def _signed_in() -> str:
    """The person API Gateway's Cognito authoriser signed in: `entra:<tenant>/<object id>`,
    from the pool's `custom:tid` and `custom:oid` (Entra's `tid` and `oid` claims)."""
    context = app.current_event.raw_event.get("requestContext") or {}
    claims = (context.get("authorizer") or {}).get("claims") or {}
    person = f"entra:{claims.get('custom:tid')}/{claims.get('custom:oid')}"
    try:
        TypeAdapter(EntraUser).validate_python(person)
    except ValueError as error:
        raise approval.NotAnApprover(
            "signed in without an Entra ID tenant and object id: sign in through the "
            "organisation's identity provider"
        ) from error
    return person


@app.get("/confirm", include_in_schema=False)  # a page, not part of the API
def get_confirmation_page() -> Response[Any]:
    name = aws.settings().sign_in_parameter
    settings = json.loads(parameters.get_parameter(name, max_age=300)) if name else {}
    context = app.current_event.request_context
    api_url = f"https://{context.domain_name}/{context.stage}"
    html, headers = page.render(settings, api_url)
    return Response(status_code=200, body=html, headers=headers)


@app.get("/confirm/approvals/<approval_id>", openapi_extensions=TEAMS_AUTH,
         summary="What a person signed in on the Teams confirmation page is asked to decide",
         responses=SIGNED_IN)  # fmt: skip
def get_confirmation(
    approval_id: Annotated[str, Path(pattern=approval.APPROVAL_ID)],
) -> Confirmation:
    you = _signed_in()
    state = approval.default_approvals().state(approval_id)
    if not approval.is_approver(you, tuple(state["allowed"])):
        # the plan, the account and the cluster are for its approvers only (a 403, as the
        # runbook says), not for every person of the tenant
        raise approval.NotAnApprover(f"approval {approval_id}: {you} is not an approver of it")
    try:
        plan = default_ledger().plan(state["migration_id"])
        changes = tuple(render.change_line(c).text for c in plan.changes[:SHOWN_CHANGES])
    except V6MigrateError:  # a wave's approval: its clusters' plans are in its event
        changes = ()
    return Confirmation(
        approval_id=approval_id, status=state["status"], where=state["where"],
        needed=state["needed"], approvers=tuple(state["approvers"]),
        expires_at=state["expires_at"], changes=changes, you=you,
    )  # fmt: skip


@app.post("/confirm/approvals/<approval_id>", openapi_extensions=TEAMS_AUTH,
          summary="Approve or reject a plan, signed in on the Teams confirmation page",
          responses=SIGNED_IN)  # fmt: skip
def post_confirmation(
    approval_id: Annotated[str, Path(pattern=approval.APPROVAL_ID)], body: DecisionBody
) -> Decided:
    return _decide(approval_id, _signed_in(), body)


RunId = Annotated[str, Path(pattern=MIGRATION_ID)]
STEERED: dict[int, Any] = {
    200: {"description": "Kept, and in effect for the clusters not yet started",
          "content": {"application/json": {"model": Steered}}},
}  # fmt: skip


@app.get("/waves/<run_id>", summary="Where a wave run stands")
def get_wave(run_id: RunId) -> WaveStatus:
    _may_act_on_wave(run_id, _caller(), "read waves on")
    found = waverun.status(_sfn(), default_ledger(), _wave_machine(), _machine(), run_id)
    return WaveStatus.model_validate(found)


def _may_act_on_wave(run_id: str, caller: str, action: str) -> None:
    """Refuse a caller the platform's scopes do not give every account the wave reaches (its
    clusters, as resolved; before that, only a scope of every account will do)."""
    kept = default_ledger().read_note(run_id, "wave") or {}
    accounts = sorted({str(c["account_id"]) for c in kept.get("clusters", []) if "account_id" in c})
    rules = platform.platform_policy()
    for account in accounts or ["*"]:
        platform.authorise(rules, caller, account, action)


def _steer(run_id: str, action: waverun.Action, body: SteerBody) -> Steered:
    caller = _caller()
    _may_act_on_wave(run_id, caller, f"{action} waves on")
    changes = (
        body.model_dump(exclude={"reason"}, exclude_none=True)
        if isinstance(body, WaveUpdateBody) else None
    )  # fmt: skip
    kept = waverun.control(
        _sfn(), default_ledger(), _wave_machine(), run_id, caller, action, changes, body.reason
    )
    logger.info("wave steered", extra={"run_id": run_id, "action": action, "caller": caller})
    return Steered.model_validate(
        {"run_id": run_id, "paused": False, "aborted": False, "max_concurrency": None,
         "tolerated_failure_count": None, "tolerated_failure_percentage": None, **kept}
    )  # fmt: skip


@app.patch("/waves/<run_id>", summary="Change a running wave's concurrency or tolerance",
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
    app.post(f"/waves/<run_id>/{_action}", summary=_summary, description=_description,
             responses=STEERED, operation_id=f"{_action}_wave")(_steering(_action))  # fmt: skip


@app.post(
    "/chat/slack/actions",
    summary="Slack's interactivity callback: an Approve or Reject button pressed",
    description="Signed by Slack (`X-Slack-Signature`, `X-Slack-Request-Timestamp`), not with "
    "SigV4. The form body's `payload` is a block_actions payload; the presser is "
    "`slack:<team>/<user>`. Answered 200 at once; the message is updated through the "
    "payload's `response_url`.",
    openapi_extensions={"x-v6migrate-auth": "slack-signature"},  # not SigV4
    responses={
        200: {"description": "Taken, refused (said in the message) or a replay (nothing done)",
              "content": {"application/json": {"model": Problem}}},
        401: {"description": "Not signed by Slack within five minutes",
              "content": {"application/json": {"model": Problem}}},
    },
)  # fmt: skip
def post_slack_action() -> Response[Any]:
    settings = aws.settings()
    if not settings.slack_signing_secret:
        return _problem(404, "decisions from Slack are not set up (SlackSigningSecretName)")
    event = app.current_event
    raw = event.decoded_body.encode() if event.decoded_body else b""
    secret = parameters.get_secret(settings.slack_signing_secret, max_age=300)
    timestamp, sent = chatops.verify(raw, dict(event.headers), str(secret))
    pressed = chatops.action(raw)
    dynamodb = boto3.client("dynamodb", config=aws.retries())
    if not chatops.first_use(dynamodb, settings.ledger_table, sent, timestamp):
        logger.warning("slack replay refused", extra={"approval_id": pressed.approval_id})
        return _problem(200, "already handled")
    events = boto3.client("events", config=aws.retries())
    try:
        outcome = approval.record(
            pressed.approval_id, pressed.caller, pressed.decision, "from Slack",
            approval.default_approvals(), default_ledger(), events,
        )  # fmt: skip
    except approval.ApprovalRefused as error:
        logger.info("slack decision refused", extra={"approval_id": pressed.approval_id,
                                                     "caller": pressed.caller})  # fmt: skip
        chatops.update_message(pressed.response_url, f"Not taken: {error}", replace=False,
                               allowed=settings.slack_response_prefix)  # fmt: skip
        return _problem(200, str(error))
    taken = {"approval_id": outcome.approval_id, "caller": pressed.caller, "status": outcome.status}
    logger.info("slack decision", extra=taken)
    verb = "Approved" if pressed.decision == "approve" else "Rejected"
    waiting = (
        f" ({len(outcome.approvers)} of {outcome.needed} approvals)"
        if outcome.status == "pending" else ""
    )  # fmt: skip
    chatops.update_message(
        pressed.response_url,
        f"{verb} by <@{pressed.user_id}> ({pressed.caller}): approval {outcome.approval_id} "
        f"of {outcome.migration_id} is {outcome.status}{waiting}.",
        replace=outcome.status != "pending", allowed=settings.slack_response_prefix,
    )  # fmt: skip
    return _problem(200, f"{outcome.status}")


# ----------------------------------------------------------------------------- errors


def _problem(status: int, message: str, **extra: Any) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": message, **extra}),
    )  # fmt: skip


@app.exception_handler(RequestValidationError)
def _invalid(error: RequestValidationError) -> Response[Any]:
    """A 400 naming each field that is wrong (Powertools' default is a 422)."""
    fields = [
        {"field": ".".join(str(part) for part in problem["loc"]), "problem": problem["msg"]}
        for problem in error.errors()
    ]
    names = ", ".join(f["field"] for f in fields)
    return _problem(400, f"invalid request: {names}", errors=fields)


@app.not_found
def _no_route(error: Exception) -> Response[Any]:
    """A path API Gateway passed on that no route takes (a parameter it cannot hold)."""
    return _problem(404, f"no such resource: {app.current_event.path}")


@app.exception_handler(chatops.SlackRefused)
def _unsigned(error: chatops.SlackRefused) -> Response[Any]:
    return _problem(401, str(error))


@app.exception_handler(approval.ApprovalRefused)
def _refused(error: approval.ApprovalRefused) -> Response[Any]:
    if isinstance(error, NotFoundError):
        return _problem(404, str(error))
    if isinstance(error, approval.NotAnApprover):
        return _problem(403, str(error))
    return _problem(409, str(error))  # decided, expired, or approved by this caller already


@app.exception_handler(platform.PolicyRefusedBase)
def _not_allowed(error: platform.PolicyRefusedBase) -> Response[Any]:
    return _problem(403, str(error))


@app.exception_handler(V6MigrateError)
def _failed(error: V6MigrateError) -> Response[Any]:
    if isinstance(error, NotFoundError):
        return _problem(404, str(error))
    if isinstance(error, ConflictError):
        return _problem(409, str(error))
    if isinstance(error, TransientError):
        return _problem(503, f"AWS is busy, try again: {error}")
    if isinstance(error, InputError):
        return _problem(400, str(error))
    logger.exception("request failed")
    return _problem(502, str(error))


# The largest body a route takes: a request is a few hundred bytes, a Slack action a few KB;
# Step Functions takes at most 256 KB of input, and the state passes the plan besides
MAX_BODY_BYTES = 64 * 1024


@app.exception_handler(ValueError)
def _not_json(error: ValueError) -> Response[Any]:
    """A body that is not JSON (json.JSONDecodeError is a ValueError)."""
    return _problem(400, f"the body is not JSON: {str(error)[:200]}")


@app.exception_handler(RecursionError)
def _too_deep(error: RecursionError) -> Response[Any]:
    return _problem(400, "the body is nested too deeply")


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    body = event.get("body") if isinstance(event, dict) else None
    if isinstance(body, str) and len(body.encode()) > MAX_BODY_BYTES:
        too_large = {"message": f"the body is over {MAX_BODY_BYTES} bytes"}
        return {"statusCode": 413, "headers": {"Content-Type": "application/json"},
                "body": json.dumps(too_large)}  # fmt: skip
    return app.resolve(event, context)
