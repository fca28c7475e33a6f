"""approval: take one approver's decision, with a proof of who they are that STS checks (from
`v6migrate approve|reject`), once; the decision that settles the approval resumes or ends the
run. Asking for approvals and the Amazon Q queue's decisions are approval_workflow's: this
function, which approvers may invoke, takes nothing on an event's word."""

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import approval, aws
from v6migrate.apply import default_ledger
from v6migrate.observability import entrypoint


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    decision = approval.Decision.model_validate(event)
    events = boto3.client("events", config=aws.retries())
    sts = boto3.client("sts", config=aws.retries())
    outcome = approval.settle(
        decision, approval.default_approvals(), default_ledger(), events, sts.meta.endpoint_url
    )
    return outcome.model_dump(mode="json")
