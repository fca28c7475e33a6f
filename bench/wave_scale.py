"""A wave of many clusters across ten accounts, under AWS's token buckets (issue 11, item 9).

For each size (10 and 50 clusters by default), a fresh embedded AWS with EC2's and Step
Functions' published request buckets on (`faults.buckets`: per account and Region, refilled on
the simulated clock; `--rate eks=20@2` adds one for EKS or Auto Scaling), the `small`
estate seeded once per cluster (lean: no Transit Gateway, peering, Cloud WAN or load balancers)
round-robin over ten accounts, and one wave that takes them all at once (no ramp, concurrency
for every cluster, no approval). It prints, per size:

- `wall_over_slowest`: from the first cluster's start to the last one's end, over the slowest
  cluster's own run (1.0: they all ran side by side). The wave's whole run (resolving and
  planning every cluster first, the report after) is printed beside it;
- `throttle_errors_surfaced`: throttling errors that reached a stage as a failed task (any
  Lambda task of any execution whose error or cause names RequestLimitExceeded, Throttling or
  ThrottlingException), against the throttled calls the clients' retries absorbed;
- `transitions_per_cluster`: states entered in every execution (the wave's, each migration's,
  and each Map item's, counted from its path: the embedded AWS keeps no history of Map items)
  over the clusters;
- `usd_per_cluster`: those transitions, plus the Lambda GB-seconds and requests of every Lambda
  task, at the public list prices `bench/migration_cost.py` uses.

Left out, and why: the in-process handlers' time is measured under the load of every other
cluster on this machine's cores, so GB-seconds and wall times are the embedded AWS's, not
AWS's; EKS and Auto Scaling publish no bucket figures, so they are throttled only at the rates
given with `--rate` (local/faults.py).

    .venv/bin/python bench/wave_scale.py [--sizes 10,50] [--accounts 10]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from migration_cost import MEMORY_GB, USD_PER_GB_SECOND, USD_PER_REQUEST, USD_PER_TRANSITION

from local import faults
from local.deploy import deploy, local_parameters
from local.seed import ESTATES, seed
from local.server import EmbeddedAws
from v6migrate import runs

TAG = {"v6migrate/wave": "scale"}
LEAN = {"transit_gateway": False, "peering": False, "cloud_wan": False, "edges": False}
THROTTLED = ("RequestLimitExceeded", "Throttling", "ThrottlingException")
ITEM_STATES = 8  # a cluster's path through the wave's Map item (statemachines/wave.asl.json)
ITEM_LAMBDAS = 2  # Gate and Release


def _accounts(count: int) -> list[str]:
    return [f"{400000000000 + n:012d}" for n in range(count)]


def _histories(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events += page["events"]
    return events


def _tally(events: list[dict[str, Any]]) -> tuple[int, float, int, int]:
    """States entered, Lambda seconds, Lambda invocations, and throttling failures of tasks."""
    entered = sum(1 for e in events if "stateEnteredEventDetails" in e)
    begun: dict[int, Any] = {}
    seconds, invocations, throttled = 0.0, 0, 0
    for event in events:
        details = json.dumps(event.get("taskStartedEventDetails", {}))
        if event["type"] == "TaskStarted" and "lambda" in details:
            begun[event["id"]] = event["timestamp"]
        elif (
            event["type"] in ("TaskSucceeded", "TaskFailed")
            and event.get("previousEventId") in begun
        ):
            seconds += (event["timestamp"] - begun[event["previousEventId"]]).total_seconds()
            invocations += 1
        if event["type"] == "TaskFailed":
            failed = json.dumps(event.get("taskFailedEventDetails", {}))
            throttled += any(code in failed for code in THROTTLED)
    return entered, seconds, invocations, throttled


def run(clusters: int, accounts: int) -> str:
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    with EmbeddedAws() as embedded:
        embedded.reset()  # moto's backends live as long as the process: each size from none
        session = embedded.session()
        deployment = deploy(
            session, parameters={**local_parameters("WARNING"), "WaitSeconds": "30"}
        )
        owners = _accounts(accounts)
        base = ESTATES["small"].model_copy(update={**LEAN, "cluster_tags": TAG})
        for n in range(clusters):
            seed(base.model_copy(update={
                "account_id": owners[n % accounts], "cluster": f"scale-{n:03d}",
                "vpc_cidr": f"10.{n // accounts}.0.0/16",
            }), session)  # fmt: skip
        faults.buckets(True)
        wave = {
            "id": "scale", "regions": [base.region],
            "targets": {"accounts": owners, "cluster_tags": TAG},
            "max_concurrency": clusters, "ramp": False, "approval": {"mode": "none"},
            "tolerance": {"percentage": 100},
        }  # fmt: skip
        sfn = session.client("stepfunctions")
        started = time.perf_counter()
        arn = sfn.start_execution(
            stateMachineArn=deployment.state_machines["WaveStateMachine"],
            name=f"scale-{clusters}", input=json.dumps({"wave": wave}),
        )["executionArn"]  # fmt: skip
        while (wave_run := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(0.5)
        wave_wall = time.perf_counter() - started
        absorbed = faults.STATE.throttled
        faults.buckets(False)
        if wave_run["status"] != "SUCCEEDED":
            raise SystemExit(f"the wave failed: {wave_run.get('error')} {wave_run.get('cause')}")
        report = json.loads(wave_run["output"])
        machine = deployment.state_machines["MigrationStateMachine"]
        children = [
            sfn.describe_execution(executionArn=runs.execution_arn(machine, c["execution"]))
            for c in report["clusters"]
        ]
        executions = [arn] + [c["executionArn"] for c in children]
        # The Map items' own executions keep no history in the embedded AWS (moto runs them
        # inside the wave's): their states are counted from the path a cluster that ran and
        # succeeded takes through the item (Halted?, HaltOn?, Gate, Gate?, Run, Release,
        # Ramp?, ClusterDone), and their Lambda calls (Gate, Release) priced at the wave's
        # mean Lambda time.
        entered, seconds, invocations, surfaced = ITEM_STATES * clusters, 0.0, 0, 0
        for execution in executions:
            tally = _tally(_histories(sfn, execution))
            entered, seconds = entered + tally[0], seconds + tally[1]
            invocations, surfaced = invocations + tally[2], surfaced + tally[3]
    spans = [(c["startDate"], c["stopDate"]) for c in children]
    slowest = max((stop - start).total_seconds() for start, stop in spans)
    side_by_side = (max(s for _, s in spans) - min(s for s, _ in spans)).total_seconds()
    mean = seconds / invocations if invocations else 0.0
    seconds += ITEM_LAMBDAS * clusters * mean
    invocations += ITEM_LAMBDAS * clusters
    usd = (
        entered * USD_PER_TRANSITION
        + seconds * MEMORY_GB * USD_PER_GB_SECOND
        + invocations * USD_PER_REQUEST
    )
    statuses = sorted({c["status"] for c in children})
    print(
        f"wave_scale: provenance clusters={clusters} statuses={','.join(statuses)} "
        f"wave_wall_s={wave_wall:.1f} clusters_span_s={side_by_side:.1f} "
        f"slowest_cluster_s={slowest:.1f} executions_read={len(executions)} "
        f"throttled_calls_absorbed={absorbed} lambda_invocations={invocations}"
    )
    return (
        f"wave_scale: clusters={clusters} accounts={accounts} "
        f"wall_over_slowest={side_by_side / slowest:.2f} throttle_errors_surfaced={surfaced} "
        f"transitions_per_cluster={entered / clusters:.1f} usd_per_cluster={usd / clusters:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,50")
    parser.add_argument("--accounts", type=int, default=10)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        print(run(size, args.accounts), flush=True)


if __name__ == "__main__":
    main()
