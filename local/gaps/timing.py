"""Time in the embedded AWS.

`SETTLE`: how long simulated operations stay in their transitional state (`associating`,
`modifying`, `UPDATING`): long enough that callers must poll, short enough for fast tests.

`CLOCK`: the simulated clock of long operations (add-on updates, node group rollouts, instance
refreshes). It runs with real time, and jumps ahead by every Wait state the embedded Step
Functions fast-forwards (`local.runtime.fast_forward`): a node group that takes 15 simulated
minutes to roll is polled as often as on AWS, without anyone waiting 15 minutes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Settle:
    seconds: float = 0.2


SETTLE = Settle()


def settling(started: float | None) -> bool:
    return started is not None and time.monotonic() - started < SETTLE.seconds


@dataclass
class SimClock:
    skipped: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() + self.skipped

    def skip(self, seconds: float) -> None:
        with self._lock:
            self.skipped += max(0.0, float(seconds))


CLOCK = SimClock()


# A node joins its cluster and turns Ready some time after its instance launches: kubelet
# registers the Node, then reports the Ready condition once its container network is up
# (Kubernetes API reference, NodeStatus.conditions). An assumed figure of the order EKS shows,
# not a documented one. An EKS managed node group's update waits for its new nodes to be Ready
# (EKS user guide, managed node update behaviour); an instance refresh waits out each new
# instance's warm-up (Auto Scaling user guide, instance warmup), simulated as the same delay.
NODE_READY_SECONDS = 60.0
