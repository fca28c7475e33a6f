"""What a stage works with: its context (clients, the inventory, resolved ids) and the one way
it calls AWS and waits for it. Below the changes and the Kubernetes adapter, which both use it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from v6migrate import aws
from v6migrate.aws import Clients
from v6migrate.errors import TransientError, translate
from v6migrate.models import Inventory


@dataclass
class Context:
    """What a stage knows while it applies: clients, the fresh inventory, resolved ids."""

    clients: Clients
    inventory: Inventory
    migration_id: str
    vpc_block: str | None = None
    egress_gateway_id: str | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    connect: Callable[[str, str], Clients] = aws.target_clients
    _peers: dict[tuple[str, str], Clients] = field(default_factory=dict)

    def clients_in(self, account_id: str, region: str) -> Clients:
        """Clients in another account or Region (a peer), by the same target role; one
        AssumeRole per peer for the whole stage."""
        if (account_id, region) == (self.clients.account_id, self.clients.region):
            return self.clients
        key = (account_id, region)
        if key not in self._peers:
            self._peers[key] = self.connect(account_id, region)
        return self._peers[key]


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def call(
    operation: Callable[..., Any], context: str, ok: tuple[str, ...] = (), **kwargs: Any
) -> Any:
    """One AWS call; codes in `ok` mean "already so" and count as success (idempotency)."""
    try:
        return operation(**kwargs)
    except ClientError as error:
        if error_code(error) in ok:
            return None
        raise translate(error, context) from error


def wait_until(check: Callable[[], bool], what: str) -> None:
    """Poll the state AWS reports; never a fixed sleep. Too slow: TransientError, and the
    state machine retries the stage, which resumes here (the journal skips what is done)."""
    settings = aws.settings()
    deadline = time.monotonic() + settings.poll_timeout_seconds
    interval = settings.poll_seconds
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise TransientError(
                f"{what}: not yet in effect after {settings.poll_timeout_seconds}s"
            )
        time.sleep(interval)
        interval = min(interval * 2, 10.0)
