"""Discovery and planning at scale: API calls per operation, time, and peak memory.

Runs the embedded AWS in this process (so peak RSS includes it), seeds the `small` and `large`
estates, and discovers and plans each through the target role, counting every AWS call the
embedded AWS answers (server side: every service, STS included, in every account: the target's
and the peering's other side). Calls should grow with pages, not with resources.

    .venv/bin/python bench/plan_scale.py
"""

from __future__ import annotations

import os
import resource
import time

from local import faults
from local.seed import ESTATES, EXTERNAL_ID, seed
from local.server import EmbeddedAws
from v6migrate import aws
from v6migrate.discover import discover
from v6migrate.models import PlanOptions
from v6migrate.plan import plan


def measure(name: str) -> str:
    spec = ESTATES[name]
    faults.count()  # server side: every call of every service, in every account, STS included
    started = time.perf_counter()
    session, account = aws.session_for(spec.account_id, spec.region, external_id=EXTERNAL_ID)
    clients = aws.clients_for(session, account, spec.region)
    inventory = discover(clients, spec.cluster)
    result = plan(inventory, PlanOptions())
    seconds = time.perf_counter() - started
    calls = faults.counted()
    resources = inventory.resource_count
    total = sum(calls.values())
    print(f"[{name}] {resources} resources, {len(result.changes)} planned changes")
    for operation, number in sorted(calls.items()):
        print(f"    {operation:<70} {number}")
    services = " ".join(f"{k}={v}" for k, v in faults.by_service(calls).items())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"plan_scale: estate={name} resources={resources} api_calls={total} "
        f"calls_per_resource={total / resources:.3f} seconds={seconds:.2f} "
        f"peak_rss_mb={peak_mb:.0f} by_service_and_account: {services}"
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
