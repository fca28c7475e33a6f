"""Applying at scale: the large estate's whole migration through the state machine.

Counts, server side, every call the embedded AWS answers for the run (every service, every
account; the Lambda invocations of the embedded Step Functions are in-process and not counted),
and its mutating calls of EC2, Cloud WAN, EKS, Auto Scaling and Elastic Load Balancing against
the planned changes of the vpc and attachments stages (one call per change is the goal; the
cluster stages' calls and the access entries preflight and validation make and remove are
counted apart), re-runs to show no mutating call is repeated (the re-run's access-entry calls
reported on their own), and runs again on a fresh large estate with 20% of the calls to every
service the workflow's code calls throttled (each with its own code: local/faults.THROTTLING).

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
ACCESS = ("eks:CreateAccessEntry", "eks:AssociateAccessPolicy", "eks:DisassociateAccessPolicy",
          "eks:DeleteAccessEntry")  # fmt: skip
CLUSTER_STAGES = ("eks:UpdateAddon", "eks:UpdateNodegroupVersion", "eks:CreateNodegroup",
                  "eks:UpdateNodegroupConfig", "autoscaling:StartInstanceRefresh",
                  *NODE_STAGE_EC2)  # fmt: skip
REQUEST = {"cluster": SPEC.cluster, "account_id": SPEC.account_id, "region": SPEC.region}
APPLY = {**REQUEST, "mode": "apply", "approval": {"mode": "none"}}  # the stages, not approval


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

        faults.arm(services=faults.ALL_SERVICES)
        faults.count()
        started = time.perf_counter()
        applied = run(sfn, machine, APPLY, "scale-apply")
        seconds = time.perf_counter() - started
        every = faults.counted()
        made = faults.mutations()
        access = [c for c in made if c in ACCESS]
        cluster = [c for c in made if c in CLUSTER_STAGES]
        mutating = len(made) - len(access) - len(cluster)
        print(f"apply: {applied['status']} in {seconds:.1f}s, {sum(every.values())} calls")
        for key, number in sorted(faults.by_service(every).items()):
            print(f"    {key:<40} {number}")
        print(f"    network mutating calls {mutating}, cluster stages {len(cluster)}, "
              f"access entries {len(access)}")  # fmt: skip

        faults.arm(services=faults.ALL_SERVICES)
        rerun = run(sfn, machine, APPLY, "scale-rerun")
        again = faults.mutations()
        rerun_access = [c for c in again if c in ACCESS]
        rerun_calls = len(again) - len(rerun_access)
        faults.disarm()
        print(f"re-run: {rerun['status']}, {rerun_calls} mutating calls, {len(rerun_access)} "
              "access-entry calls (preflight's proof, validation's entry)")  # fmt: skip

        sfn, machine = fresh(embedded)
        faults.throttle(0.2)
        throttled = run(
            sfn,
            machine,
            APPLY,
            "scale-throttled",
        )
        print(f"throttled run: {throttled['status']}, {faults.STATE.throttled} calls throttled "
              f"({dict(sorted(faults.STATE.throttled_by.items()))})")  # fmt: skip
        faults.throttle(0.0)

        ok = applied["status"] == "SUCCEEDED" and throttled["status"] == "SUCCEEDED"
        print(
            f"apply_scale: cluster_stage_calls={len(cluster)} "
            f"(node groups planned: {counts['nodes']}) access_entry_calls={len(access)}"
        )
        print(
            f"apply_scale: planned_changes={planned} mutating_calls={mutating} "
            f"ratio={mutating / planned:.2f} rerun_mutating_calls={rerun_calls} "
            f"rerun_access_entry_calls={len(rerun_access)} all_calls={sum(every.values())} "
            f"throttled_run={'ok' if ok else 'failed'} seconds={seconds:.1f}"
        )


if __name__ == "__main__":
    main()
