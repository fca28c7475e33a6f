"""approval_workflow: keep an apply run's task token under a short id and announce the plan
(from the state machines), and take the Amazon Q decisions SQS delivers (`amazonq.py`).

No person may invoke this function (docs/iam.md): its events carry no proof of who sent
them, so a forged SQS record or approval ask would be believed. Approvers' decisions, with
their proof, go to the approval function."""

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import amazonq, approval, aws
from v6migrate.apply import default_ledger
from v6migrate.errors import InputError
from v6migrate.observability import entrypoint, logger


def _queued(records: list[dict[str, Any]], events: Any) -> dict[str, Any]:
    """Decisions from the chat decision queue. One that can never be taken (not a decision,
    not from an approver's role, already decided, expired) is logged and dropped: retried, it
    would be refused again. One that failed otherwise is handed back to SQS to retry."""
    approvals, ledger = approval.default_approvals(), default_ledger()
    iam = boto3.client("iam", config=aws.retries())
    failed = []
    for record in records:
        try:
            decision = amazonq.queued(record)
            allowed = approvals.state(decision.approval_id)["allowed"]
            caller = amazonq.decider(decision, allowed, iam)
            outcome = approval.record(
                decision.approval_id, caller, decision.decision,
                f"Amazon Q custom action (session {decision.session})", approvals, ledger,
                events,
            )  # fmt: skip
            logger.info("chat decision taken", extra={"approval_id": decision.approval_id,
                                                      "status": outcome.status})  # fmt: skip
        except InputError as refused:
            logger.warning("chat decision refused", extra={"reason": str(refused)})
        except Exception:
            logger.exception("chat decision failed; SQS retries it")
            failed.append({"itemIdentifier": str(record.get("messageId", ""))})
    return {"batchItemFailures": failed}


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    events = boto3.client("events", config=aws.retries())
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return _queued(event["Records"], events)
    request = approval.ApprovalRequest.model_validate(event)
    approval_id = approval.ask(request, approval.default_approvals(), default_ledger(), events)
    return {"approval_id": approval_id}
