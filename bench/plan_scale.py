"""Discovery and planning at scale: API calls per operation, time, and peak memory.

Runs the embedded AWS in this process (so peak RSS includes it), seeds the `small` and `large`
estates, and discovers and plans each through the target role, counting every AWS call with a
botocore event hook. Calls should grow with pages, not with resources.

    .venv/bin/python bench/plan_scale.py
"""

from __future__ import annotations

import collections
import os
import resource
import time
from typing import Any

from local.seed import ESTATES, EXTERNAL_ID, seed
from local.server import EmbeddedAws
from v6migrate import aws
from v6migrate.discover import discover
from v6migrate.models import PlanOptions
from v6migrate.plan import plan


def measure(name: str) -> str:
    spec = ESTATES[name]
    session, account = aws.session_for(spec.account_id, spec.region, external_id=EXTERNAL_ID)
    calls: collections.Counter[str] = collections.Counter()

    def count(model: Any, **_: Any) -> None:
        calls[f"{model.service_model.service_name}:{model.name}"] += 1

    session.events.register("before-call", count)
    clients = aws.clients_for(session, account, spec.region)
    started = time.perf_counter()
    inventory = discover(clients, spec.cluster)
    result = plan(inventory, PlanOptions())
    seconds = time.perf_counter() - started
    resources = inventory.resource_count
    total = sum(calls.values())
    print(f"[{name}] {resources} resources, {len(result.changes)} planned changes")
    for operation, number in sorted(calls.items()):
        print(f"    {operation:<55} {number}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"plan_scale: estate={name} resources={resources} api_calls={total} "
        f"calls_per_resource={total / resources:.3f} seconds={seconds:.2f} "
        f"peak_rss_mb={peak_mb:.0f}"
    )


def main() -> None:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    with EmbeddedAws() as embedded:
        lines = []
        for name in ("small", "large"):
            started = time.perf_counter()
            seed(ESTATES[name], embedded.session())
            print(f"[{name}] seeded in {time.perf_counter() - started:.1f}s")
            lines.append(measure(name))
        for line in lines:
            print(line)


if __name__ == "__main__":
    main()
