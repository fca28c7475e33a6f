"""Fault injection and throttling for the embedded AWS (server side, so every client sees them).

- `arm(fail_at=N)`: the Nth mutating EC2 / Cloud WAN call from now on fails once with
  `InjectedFault` (not retryable): the stage fails, and compensation follows. With
  `services=ALL_SERVICES` the calls of every service the workflow changes count (EKS, Auto
  Scaling, Elastic Load Balancing too); with `after=True` the Nth call is carried out and only
  then answered with `InjectedCrash`: AWS accepted it, the function never learns it did (as
  when a Lambda dies between the call and journaling `applied`).
- `throttle(share)`: that share of EC2 calls answers `RequestLimitExceeded`, the code AWS uses
  when an account's EC2 token bucket is empty (DOMAIN.md, Throttling).
- `mutations`: the mutating calls seen since `arm()`, by action, in order.
- `count()` / `counted()`: every call the embedded AWS answers from then on, of every service
  (STS, DynamoDB, EventBridge and Step Functions included) in every account, by
  `<account> <service>:<Action>`: the figures of the benchmarks.
"""

from __future__ import annotations

import collections
import random
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse

MUTATING = (
    "Accept", "Allocate", "Assign", "Associate", "Attach", "Authorize", "Create", "Delete",
    "Detach", "Disable", "Disassociate", "Enable", "Modify", "Put", "Reject", "Release",
    "Replace", "Revoke", "Set", "Start", "Tag", "Unassign", "Untag", "Update",
)  # fmt: skip
SERVICES = ("ec2", "networkmanager")
ALL_SERVICES = ("ec2", "networkmanager", "eks", "autoscaling", "elbv2")


class _Fault(ServiceException):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


@dataclass
class _State:
    armed: bool = False
    fail_at: int | None = None
    after: bool = False
    services: tuple[str, ...] = SERVICES
    throttle_share: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    mutations: list[str] = field(default_factory=list)
    throttled: int = 0
    counting: bool = False
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


STATE = _State()
_installed = False


def arm(
    fail_at: int | None = None, *, after: bool = False, services: tuple[str, ...] = SERVICES
) -> None:
    with STATE.lock:
        STATE.armed = True
        STATE.fail_at = fail_at
        STATE.after = after
        STATE.services = services
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


def count() -> None:
    """Count every call from now on (and forget what was counted before)."""
    with STATE.lock:
        STATE.counting = True
        STATE.calls = collections.Counter()


def counted() -> collections.Counter[str]:
    with STATE.lock:
        return collections.Counter(STATE.calls)


def _count(response: BaseResponse, service: str) -> None:
    if not STATE.counting:
        return
    try:
        account = str(response.current_account)
    except Exception:  # a request moto cannot attribute: counted all the same
        account = "unknown"
    with STATE.lock:
        STATE.calls[f"{account} {service}:{response._get_action()}"] += 1


def by_service(calls: collections.Counter[str]) -> dict[str, int]:
    """`<service>@<account>` -> calls, from what `counted()` returns, sorted."""
    found: collections.Counter[str] = collections.Counter()
    for key, number in calls.items():
        account, operation = key.split(" ", 1)
        found[f"{operation.split(':')[0]}@{account}"] += number
    return dict(sorted(found.items()))


def mutations() -> list[str]:
    with STATE.lock:
        return list(STATE.mutations)


def _decide(service: str, action: str) -> tuple[_Fault | None, bool]:
    """The fault to answer with, and whether to carry the call out first."""
    with STATE.lock:
        if service == "ec2" and STATE.throttle_share and STATE.rng.random() < STATE.throttle_share:
            STATE.throttled += 1
            return _Fault("RequestLimitExceeded", "Request limit exceeded."), False
        if STATE.armed and service in STATE.services and action.startswith(MUTATING):
            STATE.mutations.append(f"{service}:{action}" if service not in SERVICES else action)
            if STATE.fail_at is not None and len(STATE.mutations) == STATE.fail_at:
                if STATE.after:
                    return _Fault(
                        "InjectedCrash", f"crash after mutating call {STATE.fail_at} (accepted)"
                    ), True
                return _Fault(
                    "InjectedFault", f"fault injected at mutating call {STATE.fail_at}"
                ), False
    return None, False


def install() -> None:
    global _installed
    if _installed:
        return
    original = BaseResponse.call_action
    # moto warns that an injected code is not in the service model: it is not meant to be.
    warnings.filterwarnings("ignore", message=r"Exception\(_Fault\)")

    def call_action(self: BaseResponse) -> Any:
        service = getattr(self, "service_name", "")
        _count(self, service)
        if service in ALL_SERVICES:
            fault, carry_out = _decide(service, self._get_action())
            if fault is not None:
                if carry_out:
                    original(self)
                status, headers, body = self.serialized(ActionResult(fault))
                headers["status"] = status
                return status, headers, body
        return original(self)

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    _installed = True
