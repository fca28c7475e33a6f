"""The rule on the bus feeds the notify function, which sends every event on (issue 11, item
6): through the deployed rule, the asynchronous invocation EventBridge makes, and the
notifications topic, an approval reaches Amazon Q Developer's channel as a custom notification
carrying the approval id and never the task token."""

from __future__ import annotations

import json
import time
from typing import Any

from local.seed import ESTATES, seed
from tests.integration.conftest import Stack
from tests.integration.test_approval import _decide, _request, _task_tokens

SMALL = ESTATES["small"]


def _subscribed_queue(stack: Stack) -> str:
    sns, sqs = stack.session.client("sns"), stack.session.client("sqs")
    topic = next(
        t["TopicArn"] for t in sns.list_topics()["Topics"]
        if t["TopicArn"].endswith(":v6migrate-NotificationsTopic")
    )  # fmt: skip
    url = sqs.create_queue(QueueName="amazon-q-channel")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    return str(url)


def _notifications(stack: Stack, url: str, wanted: str, timeout: float = 30) -> list[Any]:
    sqs = stack.session.client("sqs")
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            found.append(json.loads(message["Body"]))
        if any(n["metadata"]["eventType"] == wanted for n in found):
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {wanted} notification: {[n['metadata'] for n in found]}")


def test_an_approval_request_reaches_the_chat_channel_with_its_id_and_no_token(
    stack: Stack,
) -> None:
    url = _subscribed_queue(stack)
    seed(SMALL, stack.session)
    execution = stack.start(_request(stack), "notify-me")
    approval_id = stack.approval_id("notify-me")
    found = _notifications(stack, url, "ApprovalRequested")
    asked = next(n for n in found if n["metadata"]["eventType"] == "ApprovalRequested")
    assert (asked["version"], asked["source"]) == ("1.0", "custom")
    assert asked["metadata"]["additionalContext"]["approval_id"] == approval_id
    assert asked["metadata"]["threadId"] == "notify-me"
    tokens = _task_tokens(stack, execution)
    assert tokens
    assert not any(token in json.dumps(found) for token in tokens)
    _decide(stack, approval_id, "reject")
    assert stack.wait(execution)["status"] == "FAILED"
    _notifications(stack, url, "ApprovalDecided")
