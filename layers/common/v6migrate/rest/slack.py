"""Slack's interactivity callback: an Approve or Reject button pressed. Signed by Slack, not
with SigV4; each signed request is taken once, and the message is updated with the outcome."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities import parameters

from v6migrate import approval, aws, chatops
from v6migrate.observability import logger
from v6migrate.rest.approvals import decide
from v6migrate.rest.common import Problem, problem

router = Router()


@router.post(
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
        return problem(404, "decisions from Slack are not set up (SlackSigningSecretName)")
    event = router.current_event
    raw = event.decoded_body.encode() if event.decoded_body else b""
    secret = parameters.get_secret(settings.slack_signing_secret, max_age=300)
    timestamp, sent = chatops.verify(raw, dict(event.headers), str(secret))
    pressed = chatops.action(raw)
    dynamodb = boto3.client("dynamodb", config=aws.retries())
    if not chatops.first_use(dynamodb, settings.ledger_table, sent, timestamp):
        logger.warning("slack replay refused", extra={"approval_id": pressed.approval_id})
        return problem(200, "already handled")
    try:
        outcome = decide(pressed.approval_id, pressed.caller, pressed.decision, "from Slack")
    except approval.ApprovalRefused as error:
        logger.info("slack decision refused", extra={"approval_id": pressed.approval_id,
                                                     "caller": pressed.caller})  # fmt: skip
        chatops.update_message(pressed.response_url, f"Not taken: {error}", replace=False,
                               allowed=settings.slack_response_prefix)  # fmt: skip
        return problem(200, str(error))
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
    return problem(200, f"{outcome.status}")
