"""What every route of the REST API shares: who is calling, the state machines and clients it
drives, the models of a problem and of an execution, and the error answers (one place maps the
layer's errors to HTTP statuses)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

import boto3
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import Field

from v6migrate import approval, aws, chatops
from v6migrate import policy as platform
from v6migrate.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    TransientError,
    V6MigrateError,
)
from v6migrate.models import Frozen
from v6migrate.observability import logger

MIGRATION_ID = r"^[0-9A-Za-z_-]{1,80}$"

ClientToken = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]

# The largest body a route takes: a request is a few hundred bytes, a Slack action a few KB;
# Step Functions takes at most 256 KB of input, and the state passes the plan besides
MAX_BODY_BYTES = 64 * 1024


class Problem(Frozen):
    message: str
    errors: list[dict[str, str]] | None = None


class Execution(Frozen):
    """What a run's execution says: a migration's, a wave's."""

    execution_arn: str
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]
    stage: str | None = Field(description="The state the run entered last.")
    started_at: str | None
    stopped_at: str | None
    error: str | None = None
    cause: str | None = None


def event(router: Router) -> APIGatewayProxyEvent:
    """The request being answered (the REST API's: API Gateway's proxy event)."""
    return cast(APIGatewayProxyEvent, router.current_event)


def caller(router: Router) -> str:
    """The ARN API Gateway's IAM authorisation established for this request."""
    arn = event(router).request_context.identity.user_arn
    if not arn:  # a route without IAM auth never reaches here
        raise InputError("the request carries no IAM identity")
    return str(arn)


def sfn() -> Any:
    return boto3.client("stepfunctions", config=aws.retries())


def machine() -> str:
    found = aws.settings().state_machine_arn
    if not found:
        raise V6MigrateError("V6MIGRATE_STATE_MACHINE_ARN is not set")
    return found


def wave_machine() -> str:
    found = aws.settings().wave_state_machine_arn
    if not found:
        raise V6MigrateError("V6MIGRATE_WAVE_STATE_MACHINE_ARN is not set")
    return found


def own_account() -> str:
    return str(boto3.client("sts", config=aws.retries()).get_caller_identity()["Account"])


def problem(status: int, message: str, **extra: Any) -> Response[Any]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": message, **extra}),
    )  # fmt: skip


def refuse(field: str, why: str) -> Response[Any]:
    return problem(400, f"invalid request: {field}", errors=[{"field": field, "problem": why}])


def too_large(body: Any) -> dict[str, Any] | None:
    """API Gateway's answer for a body over MAX_BODY_BYTES (a 413), before any route reads it."""
    if not isinstance(body, str) or len(body.encode()) <= MAX_BODY_BYTES:
        return None
    message = {"message": f"the body is over {MAX_BODY_BYTES} bytes"}
    return {"statusCode": 413, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(message)}  # fmt: skip


def answer_errors(app: ApiGatewayResolver) -> None:
    """The answer to each error a route may raise: a 4xx for what the caller can change (the
    field, the scope, the state of the run), a 503 for AWS being busy, a 502 for the rest."""

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response[Any]:
        """A 400 naming each field that is wrong (Powertools' default is a 422)."""
        fields = [
            {"field": ".".join(str(part) for part in found["loc"]), "problem": found["msg"]}
            for found in error.errors()
        ]
        names = ", ".join(f["field"] for f in fields)
        return problem(400, f"invalid request: {names}", errors=fields)

    @app.not_found
    def _no_route(error: Exception) -> Response[Any]:
        """A path API Gateway passed on that no route takes (a parameter it cannot hold)."""
        return problem(404, f"no such resource: {app.current_event.path}")

    @app.exception_handler(chatops.SlackRefused)
    def _unsigned(error: chatops.SlackRefused) -> Response[Any]:
        return problem(401, str(error))

    @app.exception_handler(approval.ApprovalRefused)
    def _refused(error: approval.ApprovalRefused) -> Response[Any]:
        if isinstance(error, NotFoundError):
            return problem(404, str(error))
        if isinstance(error, approval.NotAnApprover):
            return problem(403, str(error))
        return problem(409, str(error))  # decided, expired, or approved by this caller already

    @app.exception_handler(platform.PolicyRefusedBase)
    def _not_allowed(error: platform.PolicyRefusedBase) -> Response[Any]:
        return problem(403, str(error))

    @app.exception_handler(V6MigrateError)
    def _failed(error: V6MigrateError) -> Response[Any]:
        if isinstance(error, NotFoundError):
            return problem(404, str(error))
        if isinstance(error, ConflictError):
            return problem(409, str(error))
        if isinstance(error, TransientError):
            return problem(503, f"AWS is busy, try again: {error}")
        if isinstance(error, InputError):
            return problem(400, str(error))
        logger.exception("request failed")
        return problem(502, str(error))

    @app.exception_handler(json.JSONDecodeError)
    def _not_json(error: json.JSONDecodeError) -> Response[Any]:
        return problem(400, f"the body is not JSON: {str(error)[:200]}")

    @app.exception_handler(RecursionError)
    def _too_deep(error: RecursionError) -> Response[Any]:
        return problem(400, "the body is nested too deeply")
