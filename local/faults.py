"""Fault injection and throttling for the embedded AWS (server side, so every client sees them).

- `arm(fail_at=N)`: the Nth mutating EC2 / Cloud WAN call from now on fails once with
  `InjectedFault` (not retryable): the stage fails, and compensation follows.
- `throttle(share)`: that share of EC2 calls answers `RequestLimitExceeded`, the code AWS uses
  when an account's EC2 token bucket is empty (DOMAIN.md, Throttling).
- `mutations`: the mutating calls seen since `arm()`, by action, in order.
"""

from __future__ import annotations

import random
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse

MUTATING = (
    "Accept", "Allocate", "Assign", "Associate", "Attach", "Authorize", "Create", "Delete",
    "Detach", "Disable", "Disassociate", "Enable", "Modify", "Reject", "Release", "Replace",
    "Revoke", "Unassign", "Update",
)  # fmt: skip
SERVICES = ("ec2", "networkmanager")


class _Fault(ServiceException):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


@dataclass
class _State:
    armed: bool = False
    fail_at: int | None = None
    throttle_share: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    mutations: list[str] = field(default_factory=list)
    throttled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


STATE = _State()
_installed = False


def arm(fail_at: int | None = None) -> None:
    with STATE.lock:
        STATE.armed = True
        STATE.fail_at = fail_at
        STATE.mutations = []


def disarm() -> None:
    with STATE.lock:
        STATE.armed = False
        STATE.fail_at = None


def throttle(share: float, seed: int = 7) -> None:
    with STATE.lock:
        STATE.throttle_share = share
        STATE.rng = random.Random(seed)
        STATE.throttled = 0


def mutations() -> list[str]:
    with STATE.lock:
        return list(STATE.mutations)


def _decide(service: str, action: str) -> _Fault | None:
    with STATE.lock:
        if service == "ec2" and STATE.throttle_share and STATE.rng.random() < STATE.throttle_share:
            STATE.throttled += 1
            return _Fault("RequestLimitExceeded", "Request limit exceeded.")
        if STATE.armed and service in SERVICES and action.startswith(MUTATING):
            STATE.mutations.append(action)
            if STATE.fail_at is not None and len(STATE.mutations) == STATE.fail_at:
                return _Fault("InjectedFault", f"fault injected at mutating call {STATE.fail_at}")
    return None


def install() -> None:
    global _installed
    if _installed:
        return
    original = BaseResponse.call_action
    # moto warns that an injected code is not in the service model: it is not meant to be.
    warnings.filterwarnings("ignore", message=r"Exception\(_Fault\)")

    def call_action(self: BaseResponse) -> Any:
        service = getattr(self, "service_name", "")
        if service in SERVICES:
            fault = _decide(service, self._get_action())
            if fault is not None:
                status, headers, body = self.serialized(ActionResult(fault))
                headers["status"] = status
                return status, headers, body
        return original(self)

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    _installed = True
