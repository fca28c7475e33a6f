"""SQS as the approval's channel from Amazon Q Developer needs: who sent each message.

SQS API reference, ReceiveMessage (`MessageSystemAttributeNames`): `SenderId` is the sender's
IAM user id, or for a role the role's id and the session's name (`AROA...:<session>`), set by
SQS from the request's credentials; the sender cannot choose it. The Lambda developer guide
("Using Lambda with Amazon SQS", example event) carries the same value in each record's
`attributes.SenderId`. moto 5.2.5 wrote one constant id for every sender, in both places.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

_SENDER = threading.local()
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def messages_name_their_sender() -> None:
    from moto.sqs import models as sqs_models
    from moto.sqs.responses import SQSResponse

    if getattr(SQSResponse.send_message, "_v6migrate", False):
        return
    from moto.awslambda.models import LambdaBackend

    from local.gaps.access import identity_of

    def sender(response: SQSResponse) -> str | None:
        """The user id GetCallerIdentity answers the request's credentials (None: unsigned)."""
        found = CREDENTIAL.search(str((response.headers or {}).get("Authorization", "")))
        if found is None:
            return None
        return identity_of(found.group(1), str(response.region))[0]

    def stamped(original: Any) -> Any:
        def send(self: SQSResponse) -> Any:
            _SENDER.id = sender(self)
            try:
                return original(self)
            finally:
                _SENDER.id = None

        send._v6migrate = True  # type: ignore[attr-defined]
        return send

    SQSResponse.send_message = stamped(SQSResponse.send_message)  # type: ignore[method-assign]
    SQSResponse.send_message_batch = stamped(SQSResponse.send_message_batch)  # type: ignore[method-assign]

    original_init = sqs_models.Message.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        who = getattr(_SENDER, "id", None)
        if who:
            self.sender_id = who

    sqs_models.Message.__init__ = __init__  # type: ignore[method-assign]

    # The event source mapping's event, as the Lambda developer guide shows one ("Using
    # Lambda with Amazon SQS", example event): the record's attributes are the message's
    # own, its SenderId among them (moto wrote fixed example values)
    def _send_sqs_message(self: Any, function_arn: str, message: Any, queue_arn: str) -> bool:
        import json

        sent = str(message.sent_timestamp or int(time.time() * 1000))
        record = {
            "messageId": message.id,
            "receiptHandle": message.receipt_handle,
            "body": message.body,
            "attributes": {
                "ApproximateReceiveCount": str(max(1, message.approximate_receive_count)),
                "SentTimestamp": sent,
                "SenderId": message.sender_id,
                "ApproximateFirstReceiveTimestamp": str(
                    message.approximate_first_receive_timestamp or sent
                ),
            },
            "messageAttributes": {},
            "md5OfBody": message.body_md5,
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": queue_arn.split(":")[3],
        }
        answer: dict[str, Any] = {}
        self.invoke(
            function_name=function_arn, qualifier=None, body=json.dumps({"Records": [record]}),
            headers={}, response_headers=answer,
        )  # fmt: skip
        return "x-amz-function-error" not in answer

    LambdaBackend._send_sqs_message = _send_sqs_message  # type: ignore[method-assign]
