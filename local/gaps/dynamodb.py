"""DynamoDB's conditional writes are atomic (DynamoDB developer guide, condition expressions:
the condition is evaluated against the item as the write is made, so two writers conditioned on
the same state cannot both succeed; API reference, ConditionalCheckFailedException), and a read
while another request writes the item answers one state or the other.

moto 5.2.5 checks a write's condition, then writes, with nothing between the two: two threads
of the server (two approvers clicking at once) can both pass a check that only one should; and
UpdateItem copies the stored item while another thread changes it, which fails inside moto (a
dict changed while it is iterated). Here each DynamoDB request is handled whole under one lock.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

_REQUESTS = threading.RLock()


def conditional_writes_are_atomic() -> None:
    original = DynamoHandler.call_action
    if getattr(original, "_v6migrate", False):
        return

    def call_action(self: Any) -> Any:
        with _REQUESTS:
            return original(self)

    call_action._v6migrate = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
