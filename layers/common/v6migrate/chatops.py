"""Decisions from chat: Slack's interactivity callback, checked as Slack documents it.

Slack signs every request it sends with the app's signing secret ("Verifying requests from
Slack"): `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<timestamp>:<raw body>")>` with
`X-Slack-Request-Timestamp`. A request is taken only if that signature holds (compared in
constant time) and its timestamp is within five minutes of now; a signature seen before is a
replay and decides nothing (each is kept, with a TTL, under a conditional write). The body of a
block action is `payload=<JSON>` (form-encoded): the button's `action_id` is the decision, its
`value` the approval id, and `team.id`/`user.id` name who pressed it: `slack:<team>/<user>`,
the identity the approval's allow-list names. Slack wants an answer within three seconds; the
message is updated through the callback's `response_url` (under Slack's own host only).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
import urllib.request
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field, ValidationError

from v6migrate.approval import APPROVAL_ID
from v6migrate.errors import InputError, translate
from v6migrate.models import Frozen

WINDOW_SECONDS = 300
ACTIONS: dict[str, Literal["approve", "reject"]] = {
    "v6migrate_approve": "approve",
    "v6migrate_reject": "reject",
}  # the notify function's Slack buttons (notify.slack)


class SlackRefused(InputError):
    """Not a request Slack signed within the window: answered 401, nothing decided."""


class SlackAction(Frozen):
    approval_id: str = Field(pattern=APPROVAL_ID)
    decision: Literal["approve", "reject"]
    caller: str  # slack:<team>/<user>
    user_id: str
    response_url: str | None = None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    body: bytes, headers: dict[str, str], secret: str, now: float | None = None
) -> tuple[str, str]:
    """(timestamp, signature) of a request Slack signed; SlackRefused otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("x-slack-request-timestamp", "")
    sent = lowered.get("x-slack-signature", "")
    # a Unix time in seconds has at most 10 digits until the year 2286 (a 5,000-digit one
    # failed int() with a 502)
    if not (timestamp.isdigit() and len(timestamp) <= 12) or not sent.startswith("v0="):
        raise SlackRefused("not a signed Slack request")
    moment = time.time() if now is None else now
    if abs(moment - int(timestamp)) > WINDOW_SECONDS:
        raise SlackRefused("the request's timestamp is more than five minutes away")
    if not hmac.compare_digest(signature(secret, timestamp, body), sent):
        raise SlackRefused("the signature does not match")
    return timestamp, sent


def first_use(dynamodb: Any, table: str, sent: str, timestamp: str) -> bool:
    """Keep the signature once (a conditional write): False if it was seen before."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"slack#{sent}"}, "sk": {"S": "replay"},
                # kept past the window, then DynamoDB's TTL deletes it
                "ttl": {"N": str(int(timestamp) + 2 * WINDOW_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )  # fmt: skip
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise translate(error, "dynamodb:PutItem slack replay") from error
    return True


def action(body: bytes) -> SlackAction:
    """The approval button pressed, from a block_actions payload."""
    try:
        fields = urllib.parse.parse_qs(body.decode(), strict_parsing=True)
        payload = json.loads(fields["payload"][0])
        pressed = payload["actions"][0]
        return SlackAction(
            approval_id=pressed["value"], decision=ACTIONS[pressed["action_id"]],
            caller=f"slack:{payload['team']['id']}/{payload['user']['id']}",
            user_id=payload["user"]["id"], response_url=payload.get("response_url"),
        )  # fmt: skip
    except (ValueError, KeyError, IndexError, TypeError, ValidationError) as error:
        raise InputError(f"not a v6migrate approval action ({type(error).__name__})") from error


def update_message(response_url: str | None, text: str, replace: bool, allowed: str) -> bool:
    """Replace the message the button was on (or answer its presser alone) through the
    callback's response_url, only under `allowed` (Slack's host: a forged URL is never
    fetched). True if sent."""
    if not response_url or not response_url.startswith(allowed):
        return False
    body: dict[str, Any] = {"replace_original": replace, "text": text}
    if not replace:
        body["response_type"] = "ephemeral"
    request = urllib.request.Request(  # noqa: S310 (under the allowed prefix, checked above)
        response_url, data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=2):  # noqa: S310
        return True
