"""The cluster stages in the embedded AWS: a node group that cannot drain, a node that validation
finds without IPv6, and what compensation leaves behind (CNI configuration restored exactly,
the temporary access entry gone)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.gaps.rollouts import FAIL_TAG
from local.seed import ESTATES, seed, target_session
from tests.integration.conftest import Stack
from tooling import cli
from v6migrate.aws import clients_for

SMALL = ESTATES["small"]
# The stages are what these tests hold: no approval (tests/integration/test_approval.py has it)
APPLY = {"cluster": SMALL.cluster, "account_id": SMALL.account_id, "region": SMALL.region,
         "mode": "apply", "approval": {"mode": "none"}}  # fmt: skip


def _clients(stack: Stack) -> Any:
    session = target_session(SMALL.region, SMALL.account_id, stack.session)
    return clients_for(session, SMALL.account_id, SMALL.region)


def _fail_drain(clients: Any, nodegroup: str) -> None:
    """Node group `nodegroup` cannot drain its nodes (the embedded AWS's PodEvictionFailure)."""
    group = clients.eks.describe_nodegroup(clusterName=SMALL.cluster, nodegroupName=nodegroup)
    clients.eks.tag_resource(
        resourceArn=group["nodegroup"]["nodegroupArn"], tags={FAIL_TAG: "PodEvictionFailure"}
    )


def _cni_values(clients: Any) -> str:
    addon = clients.eks.describe_addon(clusterName=SMALL.cluster, addonName="vpc-cni")["addon"]
    return str(addon.get("configurationValues", ""))


def _ledger_note(stack: Stack, migration_id: str, key: str) -> dict[str, Any] | None:
    item = (
        stack.session.client("dynamodb")
        .get_item(
            TableName=stack.deployment.outputs["LedgerTableName"],
            Key={"pk": {"S": f"migration#{migration_id}"}, "sk": {"S": f"note#{key}"}},
        )
        .get("Item")
    )
    return json.loads(item["data"]["S"]) if item else None


def test_a_passed_validation_is_in_the_event_and_the_ledger_and_its_access_is_removed(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(SMALL, stack.session)
    clients = _clients(stack)
    description = stack.run(APPLY, name="validate-pass")
    assert description["status"] == "SUCCEEDED", description.get("cause")
    report = _ledger_note(stack, "validate-pass", "validation")
    assert report is not None
    assert report["passed"] is True
    names = [c["name"] for c in report["checks"]]
    assert "aws-node ENABLE_V6_EGRESS in both containers" in names
    assert any(name.endswith("pod v6if0") for name in names)
    assert stack.events()[-1]["detail"]["validation"] == report
    values = json.loads(_cni_values(clients))
    assert values["env"]["ENABLE_V6_EGRESS"] == "true"
    assert values["init"]["env"]["ENABLE_V6_EGRESS"] == "true"
    assert values["env"]["WARM_IP_TARGET"] == "5", "the user's own keys are kept"
    assert clients.eks.list_access_entries(clusterName=SMALL.cluster)["accessEntries"] == []
    assert _ledger_note(stack, "validate-pass", "access")["status"] == "removed"  # type: ignore[index]
    # `v6migrate status` prints the stages with their times, and the report
    capsys.readouterr()
    code = cli.main(["status", "validate-pass", "--stack", stack.deployment.stack_name,
                     "--stack-region", SMALL.region])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "migration validate-pass: SUCCEEDED" in printed
    for stage in ("preflight", "vpc", "attachments", "cni", "nodes", "validate"):
        assert re.search(rf"^  {stage} +succeeded +\S+ \S+ +\d+\.\ds$", printed, re.M), stage
    assert "validation: PASSED" in printed
    assert "ok   aws-node ENABLE_V6_EGRESS in both containers" in printed


def test_a_pod_eviction_failure_names_the_node_group_and_restores_the_cni(stack: Stack) -> None:
    seed(SMALL, stack.session)
    clients = _clients(stack)
    before = _cni_values(clients)
    _fail_drain(clients, "system")
    description = stack.run(APPLY, name="fail-nodes")
    assert description["status"] == "FAILED"
    assert description["error"] == "ChangeFailed"
    assert "node group system" in description["cause"]
    assert "PodEvictionFailure" in description["cause"]
    entered = stack.entered(description["executionArn"])
    assert "NodeRolloutFailed" in entered
    assert "RollbackWait" in entered, "the add-on's restore is polled, not slept on"
    assert _cni_values(clients) == before, "the previous configurationValues, exactly"
    failed = [e for e in stack.events() if e["detail-type"] == "Stage Failed"]
    assert failed[-1]["detail"]["stage"] == "nodes"


def test_a_node_without_ipv6_fails_validation_naming_it_and_is_compensated(stack: Stack) -> None:
    ids = seed(SMALL, stack.session)
    clients = _clients(stack)
    before = _cni_values(clients)
    stray = clients.ec2.run_instances(
        ImageId="ami-0eks0node0image0sim", InstanceType="m6g.large", MinCount=1, MaxCount=1,
        SubnetId=ids["private_subnets"][0], TagSpecifications=[{"ResourceType": "instance",
        "Tags": [{"Key": f"kubernetes.io/cluster/{SMALL.cluster}", "Value": "owned"}]}],
    )["Instances"][0]  # fmt: skip
    # Preflight blocks on a node outside every node group unless the operator takes it on
    dry_run = stack.run({**APPLY, "mode": "plan"}, name="fail-validation-plan")
    plan = json.loads(dry_run["output"])
    assert plan["blocked"] is True
    assert "nodes-outside-node-groups" in {f["code"] for f in plan["blockers"]}
    promised = {**APPLY, "options": {"nodes_outside_groups": "validate"}}
    description = stack.run(promised, name="fail-validation")
    assert description["status"] == "FAILED"
    assert description["error"] == "ValidationFailed"
    assert stray["PrivateDnsName"] in description["cause"]
    assert "no v6if0" in description["cause"]
    report = _ledger_note(stack, "fail-validation", "validation")
    assert report is not None
    assert report["passed"] is False
    assert _cni_values(clients) == before
    assert clients.eks.list_access_entries(clusterName=SMALL.cluster)["accessEntries"] == []
    rolled_back = [e for e in stack.events() if e["detail-type"] == "Migration Rolled Back"]
    assert rolled_back[-1]["detail"]["error"] == "ValidationFailed"


def _aws_node_env() -> dict[str, dict[str, str]]:
    from local.cluster import SIM

    return SIM.states[(SMALL.account_id, SMALL.region, SMALL.cluster)].aws_node_env


def test_a_self_managed_cni_is_set_through_the_kubernetes_api_and_reverted(stack: Stack) -> None:
    # Given a cluster whose VPC CNI is not the EKS add-on
    seed(SMALL.model_copy(update={"cni_addon": False}), stack.session)
    # When the migration runs, the aws-node DaemonSet gets the flag in both containers
    assert stack.run(APPLY, name="self-managed")["status"] == "SUCCEEDED"
    env = _aws_node_env()
    assert env["aws-node"]["ENABLE_V6_EGRESS"] == "true"
    assert env["aws-vpc-cni-init"]["ENABLE_V6_EGRESS"] == "true"
    assert _clients(stack).eks.list_access_entries(clusterName=SMALL.cluster)["accessEntries"] == []


def test_a_self_managed_cni_flag_is_removed_by_compensation(stack: Stack) -> None:
    seed(SMALL.model_copy(update={"cni_addon": False}), stack.session)
    clients = _clients(stack)
    _fail_drain(clients, "system")
    description = stack.run(APPLY, name="self-managed-fail")
    assert description["status"] == "FAILED"
    env = _aws_node_env()
    assert "ENABLE_V6_EGRESS" not in env["aws-node"]
    assert "ENABLE_V6_EGRESS" not in env["aws-vpc-cni-init"]
    assert clients.eks.list_access_entries(clusterName=SMALL.cluster)["accessEntries"] == []


def test_a_cluster_in_the_tooling_account_migrates_through_the_target_role_there(
    stack: Stack,
) -> None:
    # The tooling account is a target like any other (docs/iam.md): the functions assume the
    # target role there too, so the access entry names that role (GetCallerIdentity answers
    # assumed-role/v6migrate-target/<session>; the entry names the role, EKS user guide, access
    # entries), never a function's own execution role.
    tooling = stack.session.client("sts").get_caller_identity()["Account"]
    spec = SMALL.model_copy(update={"account_id": tooling})
    seed(spec, stack.session)
    request = {**APPLY, "account_id": tooling}
    description = stack.run(request, name="same-account")
    assert description["status"] == "SUCCEEDED", description.get("cause")
    note = _ledger_note(stack, "same-account", "access")
    assert note is not None
    assert note["principal"] == f"arn:aws:iam::{tooling}:role/v6migrate-target"
    eks = stack.session.client("eks", region_name=SMALL.region)
    assert eks.list_access_entries(clusterName=SMALL.cluster)["accessEntries"] == []
