"""The demo's scenarios against a deployed stack in a real account (docs/runbook.md, "End-to-end
tests"). Skipped unless AWS_SAM_STACK_NAME names the stack and V6MIGRATE_E2E_CLUSTER,
V6MIGRATE_E2E_ACCOUNT and V6MIGRATE_E2E_REGION name a cluster to migrate; `apply` changes that
cluster's network and runs only with V6MIGRATE_E2E_APPLY=yes (use a disposable cluster).

The failing scenarios of the demo (fail-attachments, fail-nodes, fail-validation) inject faults
into the embedded AWS and have no counterpart against AWS itself: they are not run here."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from tooling.cli import decide, follow, start_execution
from v6migrate.models import MigrationRequest

STACK = os.environ.get("AWS_SAM_STACK_NAME")
CLUSTER = {key: os.environ.get(f"V6MIGRATE_E2E_{key.upper()}") for key in
           ("cluster", "account", "region")}  # fmt: skip
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not STACK or not all(CLUSTER.values()),
        reason="needs AWS_SAM_STACK_NAME and V6MIGRATE_E2E_CLUSTER, _ACCOUNT and _REGION",
    ),
]


def _outputs() -> dict[str, str]:
    stack = boto3.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _run(mode: str) -> dict[str, Any]:
    # The runner approves its own apply (it is the only person in this test)
    me = boto3.client("sts").get_caller_identity()["Arn"]
    request = MigrationRequest.model_validate({
        "cluster": CLUSTER["cluster"], "account_id": CLUSTER["account"],
        "region": CLUSTER["region"], "mode": mode,
        "approval": {"approvers": [me], "allow_self_approval": True},
    })  # fmt: skip
    session = boto3.Session()
    sfn = session.client("stepfunctions")
    arn = start_execution(sfn, _outputs()["MigrationStateMachineArn"], request)

    def approve(name: str) -> None:
        if name == "Approval":
            _announce_and_approve(session, arn)

    return follow(sfn, arn, echo=lambda line: None, poll=5.0, entered=approve)


def _announce_and_approve(session: boto3.Session, execution: str) -> None:
    from v6migrate.journal import Ledger

    ledger = Ledger(session.client("dynamodb"), _outputs()["LedgerTableName"])
    note = ledger.pending_approval(execution.rsplit(":", 1)[-1], poll=1)
    if note:
        decide(session, STACK, note["approval_id"], "approve")


def test_the_plan_scenario_plans_the_cluster_and_changes_nothing() -> None:
    description = _run("plan")
    assert description["status"] == "SUCCEEDED", description.get("cause")


@pytest.mark.skipif(os.environ.get("V6MIGRATE_E2E_APPLY") != "yes",
                    reason="changes the cluster's network: V6MIGRATE_E2E_APPLY=yes")  # fmt: skip
def test_the_apply_scenario_migrates_and_validates_the_cluster() -> None:
    description = _run("apply")
    assert description["status"] == "SUCCEEDED", description.get("cause")
