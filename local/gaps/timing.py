"""How long simulated operations stay in their transitional state (`associating`,
`modifying`, `UPDATING`): long enough that callers must poll, short enough for fast tests."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Settle:
    seconds: float = 0.2


SETTLE = Settle()


def settling(started: float | None) -> bool:
    return started is not None and time.monotonic() - started < SETTLE.seconds
