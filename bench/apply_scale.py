"""Applying at scale: the large estate's whole migration through the state machine.

Counts the mutating EC2 / Cloud WAN calls the embedded AWS receives (server side) against the
planned changes of the vpc and attachments stages (one call per change is the goal; the nodes
stage adds one launch template version per group rolled that way, counted apart), re-runs to
show no mutating call is repeated, and runs again on a fresh large estate with 20% of EC2 calls
throttled.

    .venv/bin/python bench/apply_scale.py
"""

from __future__ import annotations

import json
import os
import time

from local import faults
from local.deploy import deploy, local_parameters
from local.seed import ESTATES, seed
from local.server import EmbeddedAws

SPEC = ESTATES["large"]
NODE_STAGE_EC2 = ("CreateLaunchTemplateVersion",)
REQUEST = {"cluster": SPEC.cluster, "account_id": SPEC.account_id, "region": SPEC.region}


def run(sfn: object, machine: str, request: dict[str, str], name: str) -> dict[str, object]:
    arn = sfn.start_execution(  # type: ignore[attr-defined]
        stateMachineArn=machine, name=name, input=json.dumps(request)
    )["executionArn"]
    while True:
        description: dict[str, object] = sfn.describe_execution(executionArn=arn)  # type: ignore[attr-defined]
        if description["status"] != "RUNNING":
            return description
        time.sleep(0.2)


def fresh(embedded: EmbeddedAws) -> tuple[object, str]:
    embedded.reset()
    session = embedded.session()
    deployment = deploy(session, parameters=local_parameters("WARNING"))
    started = time.perf_counter()
    seed(SPEC, session)
    print(f"seeded the large estate in {time.perf_counter() - started:.1f}s")
    return session.client("stepfunctions"), deployment.state_machines["MigrationStateMachine"]


def main() -> None:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    with EmbeddedAws() as embedded:
        sfn, machine = fresh(embedded)
        dry = run(sfn, machine, {**REQUEST, "mode": "plan"}, "scale-plan")
        counts = json.loads(str(dry["output"]))["counts"]
        planned = counts["vpc"] + counts["attachments"]
        print(f"planned: {counts}")

        faults.arm()
        started = time.perf_counter()
        applied = run(sfn, machine, {**REQUEST, "mode": "apply"}, "scale-apply")
        seconds = time.perf_counter() - started
        node_stage = [c for c in faults.mutations() if c in NODE_STAGE_EC2]
        mutating = len(faults.mutations()) - len(node_stage)
        print(f"apply: {applied['status']} in {seconds:.1f}s, {mutating} mutating calls")

        faults.arm()
        rerun = run(sfn, machine, {**REQUEST, "mode": "apply"}, "scale-rerun")
        rerun_calls = len(faults.mutations())
        faults.disarm()
        print(f"re-run: {rerun['status']}, {rerun_calls} mutating calls")

        sfn, machine = fresh(embedded)
        faults.throttle(0.2)
        throttled = run(sfn, machine, {**REQUEST, "mode": "apply"}, "scale-throttled")
        print(f"throttled run: {throttled['status']}, {faults.STATE.throttled} calls throttled")
        faults.throttle(0.0)

        ok = applied["status"] == "SUCCEEDED" and throttled["status"] == "SUCCEEDED"
        print(
            f"apply_scale: node_stage_ec2_calls={len(node_stage)} "
            f"(launch template versions; node groups planned: {counts['nodes']})"
        )
        print(
            f"apply_scale: planned_changes={planned} mutating_calls={mutating} "
            f"ratio={mutating / planned:.2f} rerun_mutating_calls={rerun_calls} "
            f"throttled_run={'ok' if ok else 'failed'} seconds={seconds:.1f}"
        )


if __name__ == "__main__":
    main()
