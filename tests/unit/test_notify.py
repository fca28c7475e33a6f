"""Every event formatted for people and sent on (issue 11, item 6): Amazon Q Developer's custom
notification schema, Slack Block Kit, a Teams Adaptive Card; one channel down stops no other."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from v6migrate import notify
from v6migrate.events import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
WHERE = {"migration_id": "orders-prod-apply-1", "wave_id": None, "account_id": "222222222222",
         "region": "eu-west-1", "cluster": "orders-prod"}  # fmt: skip
REQUESTED = {
    "id": "e-1", "source": "v6migrate", "detail-type": "Approval Requested",
    "detail": {**WHERE, "stage": "approval", "approval_id": "4f87ebeb9424e5f0",
               "counts": {"vpc": 3, "attachments": 1}, "changes": ["associate a /56 with vpc-1"],
               "omitted_changes": 0, "approvers": ["arn:aws:iam::111111111111:role/ops"],
               "required": 1, "expires_at": 1796600000, "changed": []},
}  # fmt: skip
HOOKS = {"slack": "https://hooks.slack.example/services/T0/B0/secret-part",
         "teams": "https://example.webhook.office.example/workflows/secret-part"}  # fmt: skip


def test_an_approval_request_is_an_amazon_q_custom_notification_threaded_per_run() -> None:
    # Amazon Q Developer admin guide, custom notifications: version 1.0, source custom
    message = notify.amazon_q(REQUESTED)
    assert (message["version"], message["source"]) == ("1.0", "custom")
    assert message["content"]["textType"] == "client-markdown"
    assert message["metadata"]["threadId"] == "orders-prod-apply-1"
    # The custom action's `v6migrate approve` reads the id from the notification
    assert message["metadata"]["additionalContext"]["approval_id"] == "4f87ebeb9424e5f0"
    assert "`v6migrate approve 4f87ebeb9424e5f0`" in " ".join(message["content"]["nextSteps"])
    assert "associate a /56 with vpc-1" in message["content"]["description"]


def test_in_slack_an_approval_has_approve_with_a_confirmation_and_reject() -> None:
    actions = [b for b in notify.slack(REQUESTED)["blocks"] if b["type"] == "actions"]
    assert len(actions) == 1
    approve, reject = actions[0]["elements"]
    assert (approve["action_id"], approve["value"]) == ("v6migrate_approve", "4f87ebeb9424e5f0")
    assert "confirm" in approve
    assert (reject["action_id"], reject["value"]) == ("v6migrate_reject", "4f87ebeb9424e5f0")
    # No link decides: buttons only (a chat preview fetching a URL must decide nothing)
    assert "url" not in json.dumps(actions)


def test_in_teams_an_approval_links_to_the_confirmation_page_when_there_is_one() -> None:
    page = "https://abc.execute-api.eu-west-1.amazonaws.com/v1/confirm"
    card = notify.teams(REQUESTED, page)["attachments"][0]["content"]
    (link,) = card["actions"]
    assert (link["type"], link["url"]) == ("Action.OpenUrl", f"{page}?approval=4f87ebeb9424e5f0")
    # Without a page, or for another event, no link: the card shows the commands
    assert "actions" not in notify.teams(REQUESTED)["attachments"][0]["content"]
    other = {**REQUESTED, "detail-type": "Approval Decided"}
    assert "actions" not in notify.teams(other, page)["attachments"][0]["content"]


@pytest.mark.parametrize("event_type", [e.detail_type for e in EVENT_TYPES])
def test_every_event_type_formats_for_each_channel(event_type: str) -> None:
    event = {"id": "e-2", "source": "v6migrate", "detail-type": event_type,
             "detail": {**WHERE, "stage": "vpc", "error": "ChangeFailed"}}  # fmt: skip
    for message in (notify.amazon_q(event), notify.slack(event), notify.teams(event)):
        text = json.dumps(message)
        assert event_type in text
        assert "orders-prod" in text


def _handler() -> Any:
    spec = importlib.util.spec_from_file_location("notify_app", ROOT / "functions/notify/app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Posted:
    """Stands for the chat webhooks' HTTPS endpoints: what was posted where."""

    def __init__(self, failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.bodies: dict[str, Any] = {}
        self.failing = failing

    def __call__(self, request: Any, timeout: float) -> Any:
        if any(request.full_url.startswith(HOOKS[c]) for c in self.failing):
            raise OSError(f"cannot reach {request.full_url}")
        self.bodies[request.full_url] = json.loads(request.data)
        answer = type("Answer", (), {"read": lambda self: b"ok", "__enter__": lambda self: self,
                                     "__exit__": lambda self, *a: None})  # fmt: skip
        return answer()


@pytest.fixture
def channels(moto: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName="amazon-q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    secrets = boto3.client("secretsmanager")
    for channel, url in HOOKS.items():
        secrets.create_secret(Name=f"v6migrate/chat/{channel}", SecretString=url)
    monkeypatch.setenv("V6MIGRATE_NOTIFY_TOPIC_ARN", topic)
    monkeypatch.setenv("V6MIGRATE_SLACK_WEBHOOK_SECRET", "v6migrate/chat/slack")
    monkeypatch.setenv("V6MIGRATE_TEAMS_WEBHOOK_SECRET", "v6migrate/chat/teams")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    return sqs, queue


def _context() -> Any:
    fields = {"function_name": "notify", "memory_limit_in_mb": 128,
              "invoked_function_arn": "arn", "aws_request_id": "r-1"}  # fmt: skip
    return type("Context", (), fields)()


def test_the_function_sends_every_channel_its_own_shape(channels: Any) -> None:
    sqs, queue = channels
    app = _handler()
    app.OPENER = posted = Posted()
    assert app.handler(REQUESTED, _context()) == {
        "amazon_q": "sent", "slack": "sent", "teams": "sent"
    }  # fmt: skip
    body = sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"]
    assert json.loads(body)["source"] == "custom"
    assert posted.bodies[HOOKS["slack"]]["blocks"]
    assert posted.bodies[HOOKS["teams"]]["attachments"][0]["content"]["type"] == "AdaptiveCard"


def test_one_channel_down_stops_no_other_and_its_webhook_is_not_logged(
    channels: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs, queue = channels
    app = _handler()
    app.OPENER = posted = Posted(failing={"slack"})
    sent = app.handler(REQUESTED, _context())
    assert sent == {"amazon_q": "sent", "slack": "OSError", "teams": "sent"}
    assert HOOKS["teams"] in posted.bodies
    assert sqs.receive_message(QueueUrl=queue)["Messages"]
    logged = capsys.readouterr()
    assert "secret-part" not in logged.out + logged.err
