"""approval: keep an apply run's task token under a short id and announce the plan (from the
state machine), and take the decisions of approvers (from the CLI, the API or chat)."""

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import approval, aws
from v6migrate.apply import default_ledger
from v6migrate.errors import InputError
from v6migrate.observability import entrypoint


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    events = boto3.client("events", config=aws.retries())
    action = event.get("action") if isinstance(event, dict) else None
    if action == "request":
        request = approval.ApprovalRequest.model_validate(event)
        approval_id = approval.ask(request, approval.default_approvals(), default_ledger(), events)
        return {"approval_id": approval_id}
    if action == "decide":
        decision = approval.Decision.model_validate(event)
        sts = boto3.client("sts", config=aws.retries())
        outcome = approval.settle(
            decision, approval.default_approvals(), default_ledger(), events, sts.meta.endpoint_url
        )
        return outcome.model_dump(mode="json")
    raise InputError('expected {"action": "request" | "decide", ...}')
