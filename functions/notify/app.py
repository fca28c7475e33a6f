"""notify: every event on the v6migrate bus, formatted for people and sent on: Amazon Q
Developer in chat applications (the notifications topic), and Slack and Teams where their
webhook URLs are stored in Secrets Manager (secret names in the environment)."""

import json
import os
import urllib.request
from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import aws, notify
from v6migrate.observability import entrypoint, logger

# How a message reaches a webhook (tests swap it for a recorder: no sockets there)
OPENER: Any = urllib.request.urlopen


def _post(secret_name: str, body: dict[str, Any]) -> None:
    secrets = boto3.client("secretsmanager", config=aws.retries())
    url = secrets.get_secret_value(SecretId=secret_name)["SecretString"].strip()
    if not url.startswith("https://"):
        raise ValueError(f"the webhook in {secret_name} is not an https URL")
    request = urllib.request.Request(  # noqa: S310 (https, checked above)
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with OPENER(request, timeout=5) as answer:
        answer.read()


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    sent: dict[str, Any] = {}
    topic = os.environ.get("V6MIGRATE_NOTIFY_TOPIC_ARN")
    if topic:
        boto3.client("sns", config=aws.retries()).publish(
            TopicArn=topic, Message=json.dumps(notify.amazon_q(event))
        )
        sent["amazon_q"] = "sent"
    for channel, variable, shape in (
        ("slack", "V6MIGRATE_SLACK_WEBHOOK_SECRET", notify.slack),
        (
            "teams",
            "V6MIGRATE_TEAMS_WEBHOOK_SECRET",
            lambda e: notify.teams(e, os.environ.get("V6MIGRATE_CONFIRM_URL") or None),
        ),
    ):
        secret = os.environ.get(variable)
        if not secret:
            continue
        try:
            _post(secret, shape(event))
            sent[channel] = "sent"
        except Exception as error:
            # The error's class only: a webhook URL is a secret and may be in its text
            logger.warning(
                "notification not delivered",
                extra={"channel": channel, "error": type(error).__name__},
            )
            sent[channel] = type(error).__name__
    return sent
