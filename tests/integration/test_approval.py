"""An apply run waits for its plan's approval, bound to that plan (issue 11, item 1), through the
deployed state machine, the approval function and a decision sent as `v6migrate approve` sends
it (a proof of identity that the embedded STS checks)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.seed import ESTATES, seed, target_session
from tests.integration.conftest import Stack
from tooling.cli import CliError, decide

SMALL = ESTATES["small"]


def _request(stack: Stack, **policy: Any) -> dict[str, Any]:
    me = stack.session.client("sts").get_caller_identity()["Arn"]
    return {"cluster": SMALL.cluster, "account_id": SMALL.account_id, "region": SMALL.region,
            "mode": "apply", "approval": {"approvers": [me], **policy}}  # fmt: skip


def _ipv6_blocks(stack: Stack, vpc_id: str) -> list[str]:
    ec2 = target_session(SMALL.region, base=stack.session).client("ec2")
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    return [a["Ipv6CidrBlock"] for a in vpc.get("Ipv6CidrBlockAssociationSet", [])]


def _decide(stack: Stack, approval_id: str, decision: str) -> dict[str, Any]:
    return decide(stack.session, stack.deployment.stack_name, approval_id, decision)


def _task_tokens(stack: Stack, execution: str) -> list[str]:
    """The task tokens Step Functions handed the approval function (from the history)."""
    history = stack.session.client("stepfunctions").get_execution_history(
        executionArn=execution, maxResults=1000
    )["events"]
    tokens = []
    for event in history:
        scheduled = event.get("taskScheduledEventDetails")
        if scheduled and "task_token" in scheduled.get("parameters", ""):
            tokens.append(json.loads(scheduled["parameters"])["Payload"]["task_token"])
    return tokens


def test_an_apply_run_changes_nothing_until_an_approver_approves_its_plan(stack: Stack) -> None:
    # Given an apply run of the small estate, its approver named
    estate = seed(SMALL, stack.session)
    execution = stack.start(_request(stack), "approve-me")
    approval_id = stack.approval_id("approve-me")
    # While it waits, nothing has changed and the run is at Approval
    assert _ipv6_blocks(stack, estate["vpc_id"]) == []
    assert stack.entered(execution)[-1] == "Approval"
    # When the approver approves, Then the run goes on and migrates the cluster
    outcome = _decide(stack, approval_id, "approve")
    assert outcome["status"] == "approved"
    description = stack.wait(execution)
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert _ipv6_blocks(stack, estate["vpc_id"]) != []
    # The execution's output records who approved which plan
    approval = json.loads(description["output"])["approval"]
    assert (approval["approval_id"], approval["approvers"]) == (
        approval_id,
        [outcome["decided_by"]],
    )
    assert approval["plan_hash"]
    # And the approval was announced by its id and decided by that approver, and the task
    # token is in no event the run emitted
    events = stack.events()
    requested = [e["detail"] for e in events if e["detail-type"] == "Approval Requested"]
    decided = [e["detail"] for e in events if e["detail-type"] == "Approval Decided"]
    assert [d["approval_id"] for d in requested] == [approval_id]
    assert [(d["decision"], d["decided_by"]) for d in decided] == [
        ("approve", outcome["decided_by"])
    ]
    tokens = _task_tokens(stack, execution)
    assert tokens
    assert not [t for t in tokens if t in json.dumps(events)]


def test_a_rejection_ends_the_run_with_nothing_changed_and_the_cluster_free(stack: Stack) -> None:
    from v6migrate.journal import Ledger

    estate = seed(SMALL, stack.session)
    execution = stack.start(_request(stack), "reject-me")
    approval_id = stack.approval_id("reject-me")
    assert _decide(stack, approval_id, "reject")["status"] == "rejected"
    description = stack.wait(execution)
    assert (description["status"], description["error"]) == ("FAILED", "ApprovalRejected")
    assert _ipv6_blocks(stack, estate["vpc_id"]) == []
    ledger = Ledger(stack.session.client("dynamodb"), f"{stack.deployment.stack_name}-LedgerTable")
    assert ledger.holder(SMALL.account_id, SMALL.region, SMALL.cluster) is None
    # And a decision after the end is refused
    with pytest.raises(CliError, match="already rejected"):
        _decide(stack, approval_id, "approve")


def test_no_decision_in_time_ends_the_run_with_nothing_changed(stack: Stack) -> None:
    estate = seed(SMALL, stack.session)
    execution = stack.start(_request(stack, timeout_seconds=2), "expire-me")
    stack.approval_id("expire-me")
    description = stack.wait(execution, timeout=60)
    assert (description["status"], description["error"]) == ("FAILED", "ApprovalExpired")
    assert _ipv6_blocks(stack, estate["vpc_id"]) == []


def test_a_plan_that_moved_after_approval_is_asked_about_again_saying_what_changed(
    stack: Stack,
) -> None:
    # Given a run waiting for approval, and a subnet added to its VPC meanwhile
    estate = seed(SMALL, stack.session)
    execution = stack.start(_request(stack), "moved")
    first = stack.approval_id("moved")
    ec2 = target_session(SMALL.region, base=stack.session).client("ec2")
    added = ec2.create_subnet(
        VpcId=estate["vpc_id"], CidrBlock="10.20.200.0/24", AvailabilityZone=f"{SMALL.region}a"
    )["Subnet"]["SubnetId"]
    # When it is approved, Then the run plans again before its first change, and asks again,
    # naming the change the new plan adds
    _decide(stack, first, "approve")
    second = stack.approval_id("moved", after=first)
    assert _ipv6_blocks(stack, estate["vpc_id"]) == []
    requested = [e["detail"] for e in stack.events() if e["detail-type"] == "Approval Requested"]
    assert [d["approval_id"] for d in requested] == [first, second]
    assert any(added in line and line.startswith("+ ") for line in requested[1]["changed"])
    # And once that plan is approved, the run applies it, the new subnet included
    _decide(stack, second, "approve")
    assert stack.wait(execution)["status"] == "SUCCEEDED"
    subnet = ec2.describe_subnets(SubnetIds=[added])["Subnets"][0]
    assert subnet.get("Ipv6CidrBlockAssociationSet")


def test_only_an_approver_with_a_proof_sts_accepts_decides(stack: Stack) -> None:
    seed(SMALL, stack.session)
    execution = stack.start(_request(stack), "who")
    approval_id = stack.approval_id("who")
    # Someone else (another role's session), with a proof of their own: not an approver
    mallory = stack.as_role("developers", "mallory")
    with pytest.raises(CliError, match="is not an approver"):
        decide(mallory, stack.deployment.stack_name, approval_id, "approve")
    # A proof made for a rejection does not approve: STS refuses the altered binding
    from v6migrate import identity

    proof = identity.make_proof(stack.session.client("sts"), f"{approval_id}:reject")
    answer = stack.session.client("lambda").invoke(
        FunctionName=f"{stack.deployment.stack_name}-approval",
        Payload=json.dumps({"action": "decide", "approval_id": approval_id,
                            "decision": "approve", "proof": proof}).encode(),
    )  # fmt: skip
    assert answer.get("FunctionError")
    assert "STS refused the proof" in json.loads(answer["Payload"].read())["errorMessage"]
    # And the run still waits, undecided
    assert stack.entered(execution)[-1] == "Approval"
    _decide(stack, approval_id, "reject")
    assert stack.wait(execution)["status"] == "FAILED"


def test_the_cli_prints_the_approval_id_and_approve_lets_the_run_go(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from tooling.cli import main

    # Given `v6migrate start --mode apply --approver <me> --follow` running
    seed(SMALL, stack.session)
    me = stack.session.client("sts").get_caller_identity()["Arn"]
    argv = ["start", "--cluster", SMALL.cluster, "--account", SMALL.account_id,
            "--region", SMALL.region, "--mode", "apply", "--approver", me,
            "--allow-self-approval", "--follow"]  # fmt: skip
    codes: list[int] = []
    run = threading.Thread(target=lambda: codes.append(main(argv)))
    run.start()
    executions = stack.session.client("stepfunctions").list_executions(
        stateMachineArn=stack.machine
    )["executions"]
    for _ in range(100):
        if executions:
            break
        time.sleep(0.1)
        executions = stack.session.client("stepfunctions").list_executions(
            stateMachineArn=stack.machine
        )["executions"]
    approval_id = stack.approval_id(executions[0]["name"])
    # When the approver runs `v6migrate approve ID`, from a shell of their own (in this
    # process, a client could pick up the credentials of a function the embedded AWS runs)
    import os
    import subprocess
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "V6MIGRATE_"))}
    env.update(AWS_ENDPOINT_URL=stack.server.endpoint, AWS_ACCESS_KEY_ID="embedded",
               AWS_SECRET_ACCESS_KEY="embedded",
               AWS_DEFAULT_REGION=stack.server.region)  # fmt: skip
    cli = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "v6migrate"
    approved = subprocess.run([str(cli), "approve", approval_id], env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    run.join(timeout=240)
    # Then the follow printed the id and the commands, the approval says who, and the run ends
    out = capsys.readouterr().out
    assert f"waiting for approval {approval_id}: `v6migrate approve {approval_id}`" in out
    assert f"approval {approval_id}: approved by {me}" in approved.stdout
    assert codes == [0]
    assert "-> Applied" in out


def _gate_notes(stack: Stack, name: str, plan_hash: str) -> None:
    """What a wave's gate notes for a run it starts once the wave's approvers approved."""
    from v6migrate.journal import Ledger

    ledger = Ledger(stack.session.client("dynamodb"), f"{stack.deployment.stack_name}-LedgerTable")
    ledger.note(name, "preapproval", {"run_id": "wave-run", "plan_hash": plan_hash})


def test_a_run_bound_to_a_preapproved_plan_goes_on_only_while_its_plan_is_that_one(
    stack: Stack,
) -> None:
    # Given the plan a wave's approvers approved (a dry run's hash)
    estate = seed(SMALL, stack.session)
    target = {"cluster": SMALL.cluster, "account_id": SMALL.account_id, "region": SMALL.region}
    dry = stack.run({**target, "mode": "plan"}, "wave-dry-run")
    approved = json.loads(dry["output"])["plan_hash"]
    bound = {**_request(stack), "approval": {**_request(stack)["approval"],
             "preapproved_plan_hash": approved}}  # fmt: skip
    # Attack (issue 26): a run started by hand with that hash, which no wave started, went on
    # without asking anyone. Now it ends, nothing changed.
    forged = stack.run(bound, "wave-forged")
    assert forged["status"] == "FAILED"
    assert "no wave did" in str(forged.get("cause")), forged
    assert "VpcDualStackStarted" not in stack.entered(forged["executionArn"])
    assert _ipv6_blocks(stack, estate["vpc_id"]) == []
    # When a wave's run carries another hash (the plan moved since), Then it asks the approvers
    moved = {**bound, "approval": {**bound["approval"], "preapproved_plan_hash": "0" * 64}}
    _gate_notes(stack, "wave-moved", "0" * 64)
    asked = stack.start(moved, "wave-moved")
    approval_id = stack.approval_id("wave-moved")
    assert "Preapproved" in stack.entered(asked)
    assert stack.entered(asked)[-1] == "Approval"
    _decide(stack, approval_id, "reject")
    assert stack.wait(asked)["status"] == "FAILED"
    # And a wave's run carrying the approved hash changes the network without asking
    _gate_notes(stack, "wave-bound", approved)
    done = stack.run(bound, "wave-bound")
    assert done["status"] == "SUCCEEDED", done
    entered = stack.entered(done["executionArn"])
    assert "Approval" not in entered
    assert (
        entered.index("Preapproved")
        < entered.index("Replan")
        < entered.index("VpcDualStackStarted")
    )


def test_a_task_token_read_from_the_history_resumes_nothing(stack: Stack) -> None:
    # Attack (issue 26): whoever may read the execution's history and call SendTaskSuccess
    # resumed the run while its approval still said pending, and it applied.
    estate = seed(SMALL, stack.session)
    execution = stack.start(_request(stack), "token-thief")
    approval_id = stack.approval_id("token-thief")
    [token] = _task_tokens(stack, execution)
    plan = json.loads(stack.session.client("stepfunctions").get_execution_history(
        executionArn=execution, maxResults=1000)["events"][-1].get(
        "taskScheduledEventDetails", {}).get("parameters", "{}"))  # fmt: skip
    forged = {
        "approval_id": approval_id,
        "approvers": ["arn:aws:iam::123456789012:role/x"],
        "plan_hash": plan.get("Payload", {}).get("summary", {}).get("plan_hash", ""),
    }
    # When the thief resumes the run with the token, as if approved
    stack.session.client("stepfunctions").send_task_success(
        taskToken=token, output=json.dumps(forged)
    )
    # Then the run reads its approval record, finds it pending, and ends: nothing changed
    description = stack.wait(execution)
    assert description["status"] == "FAILED"
    assert "ApprovalNotGranted" in (description.get("cause") or "") + str(
        description.get("error")
    ), description
    assert "VpcDualStack" not in stack.entered(execution)
    assert _ipv6_blocks(stack, estate["vpc_id"]) == []
