"""DynamoDB's conditional writes are atomic (DynamoDB developer guide, condition expressions:
the condition is evaluated against the item as the write is made, so two writers conditioned on
the same state cannot both succeed; API reference, ConditionalCheckFailedException).

moto 5.2.5 checks the condition, then writes, with nothing between the two: two threads of the
server (two approvers clicking at once) can both pass a check that only one should. Here each
write holds one lock across its check and its write.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_WRITES = threading.RLock()
WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def conditional_writes_are_atomic() -> None:
    for name in WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_v6migrate", False):
            continue

        def write(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _WRITES:
                return _original(self, *args, **kwargs)

        write._v6migrate = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, write)
