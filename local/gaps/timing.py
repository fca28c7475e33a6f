"""Time in the embedded AWS.

`SETTLE`: how long simulated operations stay in their transitional state (`associating`,
`disassociating`, `modifying`, `UPDATING`, `CREATING`), on the simulated clock: the figures in
`DURATIONS` unless a test sets one figure for all (`SETTLE.seconds`).

`CLOCK`: the simulated clock of long operations (add-on updates, node group rollouts, instance
refreshes). It runs with real time, and jumps ahead by every Wait state the embedded Step
Functions fast-forwards (`local.runtime.fast_forward`): a node group that takes 15 simulated
minutes to roll is polled as often as on AWS, without anyone waiting 15 minutes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# A node joins its cluster and turns Ready some time after its instance launches: kubelet
# registers the Node, then reports the Ready condition once its container network is up
# (Kubernetes API reference, NodeStatus.conditions). An assumed figure of the order EKS shows,
# not a documented one. An EKS managed node group's update waits for its new nodes to be Ready
# (EKS user guide, managed node update behaviour); an instance refresh waits out each new
# instance's warm-up (Auto Scaling user guide, instance warmup), simulated as the same delay.
NODE_READY_SECONDS = 60.0

# Seconds each transition lasts. AWS documents the states, not their length: these are
# assumed figures of the order the consoles and CLI polls show (an IPv6 association for a few
# seconds, an attachment's modification for a minute or two), long enough that a poller from
# outside (`aws ec2 describe-subnets` right after the call) sees them. On the simulated clock,
# so the workflow's polls inside the embedded AWS fast-forward through them
# (`local.runtime.fast_forward`).
DURATIONS: dict[str, float] = {
    "vpc-associating": 4.0,
    "vpc-disassociating": 4.0,
    "subnet-associating": 2.0,
    "subnet-disassociating": 2.0,
    "tgw-attachment-modifying": 60.0,
    "core-attachment-updating": 120.0,
    "addon-creating": 30.0,
    "refresh-cancelling": 30.0,
    # A managed node group is CREATING until its nodes have joined and are Ready.
    "nodegroup-creating": NODE_READY_SECONDS,
}


@dataclass
class Settle:
    # One figure for every transition (tests: 0 for none); None for `DURATIONS`.
    seconds: float | None = None

    def of(self, transition: str) -> float:
        return DURATIONS[transition] if self.seconds is None else self.seconds


SETTLE = Settle()


def settling(started: float | None, transition: str) -> bool:
    """Whether a transition begun at `started` (`CLOCK.now()`) still runs."""
    return started is not None and CLOCK.now() - started < SETTLE.of(transition)


@dataclass
class SimClock:
    skipped: float = 0.0
    # While set, real time does not move the clock (`frozen`); only `skip` does.
    frozen_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        base = self.frozen_at
        return (time.monotonic() if base is None else base) + self.skipped

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Hold the clock still (a test that counts what a rate refills in exact figures); on
        leaving, it runs with real time again, never backwards."""
        with self._lock:
            self.frozen_at = time.monotonic()
        try:
            yield
        finally:
            with self._lock:
                self.frozen_at = None

    def skip(self, seconds: float) -> None:
        with self._lock:
            self.skipped += max(0.0, float(seconds))


CLOCK = SimClock()


def clock_control() -> None:
    """`POST /moto-api/v6migrate/clock {"skip": seconds}`: time passes in the embedded AWS, as
    `/moto-api/reset` resets it. For the seeder in another process than `local serve`: an
    estate it builds has run a while before anyone migrates it. Not an AWS API."""
    import json

    from moto.moto_api._internal import urls

    path = "{0}/moto-api/v6migrate/clock"
    if path in urls.url_paths:
        return

    def skip(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
        raw = request.data if hasattr(request, "data") else request.body
        try:
            seconds = float(json.loads(raw or b"{}")["skip"])
        except (ValueError, KeyError, TypeError):
            return 400, {}, json.dumps({"message": 'expected {"skip": seconds}'})
        CLOCK.skip(seconds)
        return 200, {}, json.dumps({"skipped": CLOCK.skipped})

    urls.url_paths[path] = skip
