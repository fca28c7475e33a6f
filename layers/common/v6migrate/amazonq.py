"""Decisions from Amazon Q Developer in chat applications, through an SQS queue.

A custom action runs one AWS CLI command as the channel's IAM role, and whatever it calls
learns nothing of who pressed the button. So v6migrate's actions (template.yaml,
`AmazonQApproveAction`, `AmazonQRejectAction`) send `approve <id>` or `reject <id>` to the
chat decision queue, whose policy lets only the configured channel roles send. SQS itself
stamps each message with its sender, `SenderId` (SQS API reference, ReceiveMessage: a role's
id and the session's name, `AROA...:<session>`), which the sender cannot choose, and hands it
to this function in the record's `attributes`. The decision is taken as the allow-listed role
of this account whose `RoleId` (IAM GetRole) that is: a role deleted and made again under the
same name has another id and is not the approver. The decider is the role, not the session
(what Amazon Q names its sessions is not documented): two approvals need two roles.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field

from v6migrate.approval import APPROVAL_ID, NotAnApprover, _principal
from v6migrate.errors import InputError
from v6migrate.models import Frozen

BODY = re.compile(r"^\s*(approve|reject)\s+(\S+)\s*$")
ROLE_SENDER = re.compile(r"^(AROA[A-Z0-9]{12,128}):(.{2,64})$")


class QueuedDecision(Frozen):
    approval_id: str = Field(pattern=APPROVAL_ID)
    decision: Literal["approve", "reject"]
    role_id: str
    session: str
    account_id: str  # the queue's, which is the stack's


def queued(record: dict[str, Any]) -> QueuedDecision:
    """The decision in one SQS record; InputError if it is not one a custom action sends."""
    body = str(record.get("body", ""))
    found = BODY.match(body)
    if found is None:
        raise InputError(f"not a decision: {body[:80]!r} (expected `approve|reject <id>`)")
    sender = str((record.get("attributes") or {}).get("SenderId", ""))
    role = ROLE_SENDER.match(sender)
    if role is None:
        raise InputError(f"sent by {sender or 'nobody'}: only a role's session decides from chat")
    queue_arn = str(record.get("eventSourceARN", ""))
    parts = queue_arn.split(":")
    if len(parts) != 6 or not parts[4].isdigit():
        raise InputError(f"not an SQS record: eventSourceARN {queue_arn!r}")
    try:
        return QueuedDecision(
            approval_id=found.group(2), decision=found.group(1),  # type: ignore[arg-type]
            role_id=role.group(1), session=role.group(2), account_id=parts[4],
        )  # fmt: skip
    except ValueError as error:
        raise InputError(f"not a decision: {body[:80]!r}: {error}") from error


def decider(decision: QueuedDecision, allowed: list[str], iam: Any) -> str:
    """The ARN of the allow-listed role of the queue's account whose id sent the decision;
    NotAnApprover if none is."""
    for entry in allowed:
        if not entry.startswith("arn:"):
            continue  # a chat user (`slack:...`) is not a role
        account, kind, name = _principal(entry)
        if kind != "role" or account != decision.account_id:
            continue
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except iam.exceptions.NoSuchEntityException:
            continue
        if role["RoleId"] == decision.role_id:
            return str(role["Arn"])
    raise NotAnApprover(
        f"approval {decision.approval_id}: the role {decision.role_id} that sent it is not an "
        "approver of it"
    )
