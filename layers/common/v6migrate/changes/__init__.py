"""Applying and reverting changes, one module per family (vpc, attachments, cluster).

Each action has three parts: `before` (the state to journal before the call, read from the
fresh inventory), `start` (the mutating call, idempotent: the service's "already exists" answer
is success) and `wait` (poll the state AWS reports until the change is in effect). `revert`
undoes it from what was journaled. Handlers register themselves in `HANDLERS` by action.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

from v6migrate import aws
from v6migrate.aws import Clients
from v6migrate.errors import TransientError, translate
from v6migrate.models import Change, Inventory


class Kept(Exception):
    """A revert that must not be done: what it would undo is in use by something the run does
    not own (the message says what and why). Compensation records the change as kept and goes
    on reverting the rest."""


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


class Handler(Protocol):
    def before(self, change: Any, ctx: Context) -> dict[str, Any]: ...

    def start(self, change: Any, ctx: Context) -> dict[str, Any]: ...

    def wait(self, changes: Sequence[Any], results: list[dict[str, Any]], ctx: Context) -> None: ...

    def revert(
        self, change: Any, before: dict[str, Any], result: dict[str, Any], ctx: Context
    ) -> None: ...


class LongHandler(Protocol):
    """A change that takes minutes (an add-on update, a node group rollout): `start` returns
    the operation's ids, `poll` says whether it is done (and may move it to its next phase)."""

    def before(self, change: Any, ctx: Context) -> dict[str, Any]: ...

    def start(self, change: Any, ctx: Context) -> dict[str, Any]: ...

    def poll(
        self, change: Any, result: dict[str, Any], ctx: Context
    ) -> tuple[bool, dict[str, Any]]: ...

    def revert(
        self, change: Any, before: dict[str, Any], result: dict[str, Any], ctx: Context
    ) -> None: ...


HANDLERS: dict[str, Handler] = {}
LONG_HANDLERS: dict[str, LongHandler] = {}


def register(action: str) -> Callable[[type], type]:
    def decorate(cls: type) -> type:
        HANDLERS[action] = cls()
        return cls

    return decorate


def register_long(action: str) -> Callable[[type], type]:
    def decorate(cls: type) -> type:
        LONG_HANDLERS[action] = cls()
        return cls

    return decorate


def handler_for(change: Change) -> Handler:
    return HANDLERS[change.action]


def long_handler_for(change: Change) -> LongHandler:
    return LONG_HANDLERS[change.action]


def reverter_for(change: Change) -> Handler | LongHandler:
    return HANDLERS.get(change.action) or LONG_HANDLERS[change.action]


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


class Immediate:
    """Changes in effect as soon as the call returns (routes, rules, attributes)."""

    def wait(self, changes: Sequence[Any], results: list[dict[str, Any]], ctx: Context) -> None:
        return None


# Importing the families registers their handlers.
from v6migrate.changes import attachments, cluster, vpc  # noqa: E402

__all__ = ["HANDLERS", "LONG_HANDLERS", "Context", "attachments", "cluster", "handler_for", "vpc"]
