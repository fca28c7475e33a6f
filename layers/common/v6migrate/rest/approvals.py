"""Routes of approvals: a decision signed with SigV4, and the Teams confirmation page with
what a person signed in there is asked and decides. A decision is the caller's (whoever API
Gateway established they are), taken once; the plan is shown to the approval's approvers only."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import boto3
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities import parameters
from pydantic import Field, TypeAdapter

from v6migrate import approval, aws, page, render
from v6migrate.apply import default_ledger
from v6migrate.errors import V6MigrateError
from v6migrate.models import EntraUser, Frozen
from v6migrate.rest.common import Problem, caller, event

router = Router()


class DecisionBody(Frozen):
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=500)


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


ApprovalId = Annotated[str, Path(pattern=approval.APPROVAL_ID)]
SIGNED_IN: dict[int, Any] = {
    401: {"description": "No ID token of the sign-in pool, or an expired one (API Gateway's)",
          "content": {"application/json": {"model": Problem}}},
}  # fmt: skip
TEAMS_AUTH = {"x-v6migrate-auth": "teams-sign-in"}  # the sign-in pool's ID token, not SigV4


def decide(
    approval_id: str, by: str, decision: Literal["approve", "reject"], reason: str
) -> approval.Outcome:
    """`by`'s decision on the approval, taken once (the ledger's record, then the run)."""
    events = boto3.client("events", config=aws.retries())
    return approval.record(
        approval_id, by, decision, reason, approval.default_approvals(), default_ledger(), events
    )


def _decided(approval_id: str, by: str, body: DecisionBody) -> Decided:
    outcome = decide(approval_id, by, body.decision, body.reason)
    return Decided(
        approval_id=outcome.approval_id, migration_id=outcome.migration_id,
        status=outcome.status, decided_by=by, approvers=outcome.approvers, needed=outcome.needed,
    )  # fmt: skip


@router.post("/approvals/<approval_id>", summary="Approve or reject a plan")
def post_approval(approval_id: ApprovalId, body: DecisionBody) -> Decided:
    return _decided(approval_id, caller(router), body)


def _sign_in_settings() -> dict[str, Any]:
    """The stack's sign-in settings (its `teams-sign-in` parameter: the pool's client, the
    identity provider and the Entra ID tenant it federates), read at most every five minutes."""
    name = aws.settings().sign_in_parameter
    return dict(json.loads(parameters.get_parameter(name, max_age=300))) if name else {}


def _signed_in() -> str:
    """The person API Gateway's Cognito authoriser signed in: `entra:<tenant>/<object id>`.
    The object id is the user id of the token's `identities` claim for the stack's provider
    (Cognito sets it from the IdP's subject, which the provider's attribute mapping makes
    Entra's `oid`; nobody can write it), the tenant is the one the provider federates. Never
    the pool's attributes: a user may write those with their own access token."""
    context = router.current_event.raw_event.get("requestContext") or {}
    claims = (context.get("authorizer") or {}).get("claims") or {}
    settings = _sign_in_settings()
    provider, tenant = settings.get("provider"), settings.get("tenant")
    user = next((i.get("userId") for i in _identities(claims.get("identities"))
                 if provider and i.get("providerName") == provider), None)  # fmt: skip
    person = f"entra:{tenant}/{user}"
    try:
        TypeAdapter(EntraUser).validate_python(person)
    except ValueError as error:
        raise approval.NotAnApprover(
            "signed in without an Entra ID identity of the stack's provider: sign in through "
            "the organisation's identity provider"
        ) from error
    return person


def _identities(claim: Any) -> list[dict[str, Any]]:
    """The `identities` claim: the providers a federated user signed in through (a JSON
    array, passed on as text); nothing for a user of the pool's own."""
    try:
        found = json.loads(claim) if isinstance(claim, str) else claim
    except ValueError:
        return []
    return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []


@router.get("/confirm", include_in_schema=False)  # a page, not part of the API
def get_confirmation_page() -> Response[Any]:
    settings = _sign_in_settings()
    context = event(router).request_context
    html, headers = page.render(settings, f"https://{context.domain_name}/{context.stage}")
    return Response(status_code=200, body=html, headers=headers)


@router.get("/confirm/approvals/<approval_id>", openapi_extensions=TEAMS_AUTH,
            summary="What a person signed in on the Teams confirmation page is asked to decide",
            responses=SIGNED_IN)  # fmt: skip
def get_confirmation(approval_id: ApprovalId) -> Confirmation:
    you = _signed_in()
    state = approval.default_approvals().state(approval_id)
    if not approval.is_approver(you, tuple(state["allowed"])):
        # the plan, the account and the cluster are for its approvers only (a 403, as the
        # runbook says), not for every person of the tenant
        raise approval.NotAnApprover(f"approval {approval_id}: {you} is not an approver of it")
    try:
        plan = default_ledger().plan(state["migration_id"])
        shown = plan.changes[: approval.SHOWN_CHANGES]
        changes = tuple(render.change_line(c).text for c in shown)
    except V6MigrateError:  # a wave's approval: its clusters' plans are in its event
        changes = ()
    return Confirmation(
        approval_id=approval_id, status=state["status"], where=state["where"],
        needed=state["needed"], approvers=tuple(state["approvers"]),
        expires_at=state["expires_at"], changes=changes, you=you,
    )  # fmt: skip


@router.post("/confirm/approvals/<approval_id>", openapi_extensions=TEAMS_AUTH,
             summary="Approve or reject a plan, signed in on the Teams confirmation page",
             responses=SIGNED_IN)  # fmt: skip
def post_confirmation(approval_id: ApprovalId, body: DecisionBody) -> Decided:
    return _decided(approval_id, _signed_in(), body)
