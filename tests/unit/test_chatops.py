"""Slack's request signature, checked as Slack documents it ("Verifying requests from Slack"):
`v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the signing secret, within five
minutes. The expected signatures here are computed from that recipe, not by chatops."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from typing import Any

import boto3
import pytest

from v6migrate import chatops
from v6migrate.errors import InputError

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_800_000_000
BODY = b"payload=%7B%7D"


def _headers(timestamp: int = NOW, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def test_a_request_slack_signed_now_is_taken() -> None:
    headers = _headers()
    assert chatops.verify(BODY, headers, SECRET, now=NOW) == (
        str(NOW), headers["X-Slack-Signature"],
    )  # fmt: skip
    # header names in any case, and at the edges of the window
    lowered = {k.lower(): v for k, v in _headers(NOW - 300).items()}
    chatops.verify(BODY, lowered, SECRET, now=NOW)
    chatops.verify(BODY, _headers(NOW + 300), SECRET, now=NOW)


@pytest.mark.parametrize(
    ("headers", "body", "why"),
    [
        (_headers(secret="guessed"), BODY, "does not match"),
        (_headers(), b"payload=%7B%22x%22%7D", "does not match"),
        (_headers(NOW - 301), BODY, "five minutes"),
        (_headers(NOW + 301), BODY, "five minutes"),
        ({}, BODY, "not a signed"),
        ({"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}, BODY, "not a signed"),
        ({**_headers(), "X-Slack-Signature": "v1=" + "0" * 64}, BODY, "not a signed"),
        ({**_headers(), "X-Slack-Signature": _headers()["X-Slack-Signature"][:-1]}, BODY,
         "does not match"),
    ],
)  # fmt: skip
def test_anything_else_is_refused(headers: dict[str, str], body: bytes, why: str) -> None:
    with pytest.raises(chatops.SlackRefused, match=why):
        chatops.verify(body, headers, SECRET, now=NOW)


def _payload(**changes: Any) -> bytes:
    payload = {"type": "block_actions", "team": {"id": "T0AB"}, "user": {"id": "U0CD"},
               "response_url": "https://hooks.slack.com/actions/1",
               "actions": [{"action_id": "v6migrate_reject", "value": "abcdef123456"}],
               **changes}  # fmt: skip
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def test_the_button_names_the_decision_the_approval_and_who_pressed_it() -> None:
    pressed = chatops.action(_payload())
    assert (pressed.decision, pressed.approval_id, pressed.caller) == (
        "reject", "abcdef123456", "slack:T0AB/U0CD",
    )  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [b"", b"payload=", b"nonsense", _payload(actions=[]),
     _payload(actions=[{"action_id": "delete_everything", "value": "abcdef123456"}]),
     _payload(actions=[{"action_id": "v6migrate_approve", "value": "../../x"}]),
     _payload(user={})],
)  # fmt: skip
def test_a_payload_that_is_not_an_approval_button_is_refused(body: bytes) -> None:
    with pytest.raises(InputError):
        chatops.action(body)


def test_a_signature_is_taken_once(ledger: Any) -> None:
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    assert chatops.first_use(dynamodb, "ledger", "v0=aa", str(NOW)) is True
    assert chatops.first_use(dynamodb, "ledger", "v0=aa", str(NOW)) is False
    assert chatops.first_use(dynamodb, "ledger", "v0=bb", str(NOW)) is True
    # kept until the window has long passed (then DynamoDB's TTL deletes it): a replay inside
    # the window always finds it
    kept = dynamodb.get_item(
        TableName="ledger", Key={"pk": {"S": "slack#v0=aa"}, "sk": {"S": "replay"}}
    )["Item"]
    assert NOW + 300 <= int(kept["ttl"]["N"]) <= NOW + 3600  # Slack's window is five minutes


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "AccessDeniedException"]
)
def test_a_failed_write_is_not_taken_for_a_replay(code: str) -> None:
    from botocore.exceptions import ClientError

    from v6migrate.errors import V6MigrateError

    class Failing:
        def put_item(self, **kwargs: Any) -> None:
            raise ClientError({"Error": {"Code": code, "Message": "x"}}, "PutItem")

    with pytest.raises(V6MigrateError):
        chatops.first_use(Failing(), "ledger", "v0=cc", str(NOW))


def test_the_message_is_only_ever_sent_under_the_allowed_prefix() -> None:
    allowed = "https://hooks.slack.com/"
    for url in ("http://hooks.slack.com/x", "https://hooks.slack.com.evil.example/x",
                "https://169.254.169.254/latest", None, ""):  # fmt: skip
        assert chatops.update_message(url, "t", replace=True, allowed=allowed) is False
