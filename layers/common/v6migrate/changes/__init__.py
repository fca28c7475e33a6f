"""Applying and reverting changes, one module per family (vpc, attachments, cluster).

Each action has three parts: `before` (the state to journal before the call, read from the
fresh inventory), `start` (the mutating call, idempotent: the service's "already exists" answer
is success) and `wait` (poll the state AWS reports until the change is in effect). `revert`
undoes it from what was journaled. Handlers register themselves in `HANDLERS` by action.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from v6migrate.context import Context, call, error_code, wait_until
from v6migrate.models import Change


class Kept(Exception):
    """A revert that must not be done: what it would undo is in use by something the run does
    not own (the message says what and why). Compensation records the change as kept and goes
    on reverting the rest."""


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


class Immediate:
    """Changes in effect as soon as the call returns (routes, rules, attributes)."""

    def wait(self, changes: Sequence[Any], results: list[dict[str, Any]], ctx: Context) -> None:
        return None


# Importing the families registers their handlers.
from v6migrate.changes import attachments, cluster, vpc  # noqa: E402

__all__ = [
    "HANDLERS", "LONG_HANDLERS", "Context", "attachments", "call", "cluster", "error_code",
    "handler_for", "vpc", "wait_until",
]  # fmt: skip
