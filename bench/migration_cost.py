"""What one cluster's migration costs, and whether node groups really roll in parallel.

One full migration of the `small` estate through the state machine in the embedded AWS, with
simulated rollout durations per node group (the `v6migrate.local/seconds-per-node` tag). It
counts the Standard workflow's state transitions (states entered), the Lambda GB-seconds of
the stage functions (their measured run time x the template's memory), prices both at public
list prices (docs/architecture.md, Cost), and compares the node rollout's simulated wall time
(first start to the poll that saw every group done) with the slowest group's own rollout.

    .venv/bin/python bench/migration_cost.py
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from local.deploy import deploy, local_parameters
from local.gaps.rollouts import SECONDS_TAG
from local.gaps.timing import CLOCK
from local.seed import ESTATES, seed, target_session
from local.server import EmbeddedAws
from v6migrate import apply
from v6migrate.aws import clients_for

SPEC = ESTATES["small"]
# Simulated seconds per node: system has 2 nodes (15 min), batch 1 (10 min), legacy-asg 1.
SECONDS_PER_NODE = {"system": 450, "batch": 600, "legacy-asg": 750}
MEMORY_GB = 0.5  # template.yaml Globals MemorySize 512
# Public list prices (us-east-1, checked for this release; docs/architecture.md, Cost):
USD_PER_TRANSITION = 0.025 / 1000  # Step Functions Standard workflows
USD_PER_GB_SECOND = 0.0000133334  # Lambda, arm64
USD_PER_REQUEST = 0.20 / 1_000_000  # Lambda requests


def _tag_durations(embedded: EmbeddedAws) -> None:
    clients = clients_for(
        target_session(SPEC.region, SPEC.account_id, embedded.session()),
        SPEC.account_id,
        SPEC.region,
    )
    for name, seconds in SECONDS_PER_NODE.items():
        if name == "legacy-asg":
            clients.autoscaling.create_or_update_tags(Tags=[{
                "ResourceId": f"{SPEC.cluster}-{name}", "ResourceType": "auto-scaling-group",
                "Key": SECONDS_TAG, "Value": str(seconds), "PropagateAtLaunch": False,
            }])  # fmt: skip
            continue
        group = clients.eks.describe_nodegroup(clusterName=SPEC.cluster, nodegroupName=name)
        clients.eks.tag_resource(
            resourceArn=group["nodegroup"]["nodegroupArn"], tags={SECONDS_TAG: str(seconds)}
        )


def _rolls() -> list[Any]:
    """Every simulated rollout of the run (node group updates and instance refreshes)."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.eks.models import eks_backends

    rolls = []
    eks = eks_backends[SPEC.account_id][SPEC.region]
    rolls += [u.roll for u in eks.__dict__.get("_v6_updates", {}).values() if u.roll]
    asg = autoscaling_backends[SPEC.account_id][SPEC.region]
    for history in asg.__dict__.get("_v6_refreshes", {}).values():
        rolls += [r.roll for r in history]
    return rolls


def main() -> None:
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    seen: list[tuple[float, bool]] = []  # (simulated time, done) per NodeRollout call
    original = apply.advance_stage

    def timed(stage: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(stage, *args, **kwargs)
        if stage == "nodes":
            seen.append((CLOCK.now(), result.done))
        return result

    apply.advance_stage = timed  # type: ignore[assignment]
    with EmbeddedAws() as embedded:
        session = embedded.session()
        # Polls every 30 s, as a production deployment would (template default).
        deployment = deploy(
            session, parameters={**local_parameters("WARNING"), "WaitSeconds": "30"}
        )
        seed(SPEC, session)
        _tag_durations(embedded)
        sfn = session.client("stepfunctions")
        request = {"cluster": SPEC.cluster, "account_id": SPEC.account_id,
                   "region": SPEC.region, "mode": "apply",
                   "approval": {"mode": "none"}}  # fmt: skip
        started = time.perf_counter()
        arn = sfn.start_execution(
            stateMachineArn=deployment.state_machines["MigrationStateMachine"],
            name="cost-1",
            input=json.dumps(request),
        )["executionArn"]
        while (description := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            time.sleep(0.2)
        wall = time.perf_counter() - started
        if description["status"] != "SUCCEEDED":
            raise SystemExit(f"migration failed: {description.get('cause')}")
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        transitions = sum(1 for e in events if "stateEnteredEventDetails" in e)
        lambda_seconds = 0.0
        invocations = 0
        begun: dict[int, Any] = {}
        for event in events:
            if event["type"] == "TaskStarted" and "lambda" in json.dumps(
                event.get("taskStartedEventDetails", {})
            ):
                begun[event["id"]] = event["timestamp"]
            elif (
                event["type"] in ("TaskSucceeded", "TaskFailed")
                and event.get("previousEventId") in begun
            ):
                lambda_seconds += (
                    event["timestamp"] - begun[event["previousEventId"]]
                ).total_seconds()
                invocations += 1
        rolls = _rolls()
    gb_seconds = lambda_seconds * MEMORY_GB
    usd = (
        transitions * USD_PER_TRANSITION
        + gb_seconds * USD_PER_GB_SECOND
        + invocations * USD_PER_REQUEST
    )
    first_start = min(r.started for r in rolls)
    seen_done = min(t for t, done in seen if done)
    slowest = max((r.ended or r.started) - r.started for r in rolls)
    ratio = (seen_done - first_start) / slowest
    print(
        f"migration_cost: run wall={wall:.1f}s lambda_invocations={invocations} "
        f"node_groups={len(SECONDS_PER_NODE)} rollouts={len(rolls)} "
        f"slowest_rollout_s={slowest:.0f} rollout_wall_s={seen_done - first_start:.0f}"
    )
    print(
        "migration_cost: provenance: state_transitions counted from the execution history "
        "(as AWS bills them); lambda_gb_seconds = the handlers' in-process run time against "
        "the embedded AWS x the template's memory (simulated: real calls to AWS take longer, "
        "and a cold start adds its init time); the rollout times come from the simulated "
        "clock and the seconds-per-node tags above, and node_rollout_wall_over_slowest "
        "measures how the workflow polls them in parallel, not how long EKS takes"
    )
    print(
        f"migration_cost: state_transitions={transitions} lambda_gb_seconds={gb_seconds:.2f} "
        f"usd_per_cluster={usd:.4f} node_rollout_wall_over_slowest={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
