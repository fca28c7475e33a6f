"""Decisions from Amazon Q Developer in chat applications (issue 11, item 2).

A custom action can run only an AWS CLI command, and the function behind it learns nothing of
who ran it. So the template's actions send `approve|reject <approval id>` to a queue
(`aws sqs send-message`), SQS stamps each message with its sender (`SenderId`: the role's
id and the session; SQS API reference, ReceiveMessage), and the approval function takes the
decision as the allow-listed role whose id that is (IAM GetRole's `RoleId`). The action's
variable is read from the custom notification `notify` publishes, at the path the action names
(`event.metadata.additionalContext.approval_id`: Amazon Q's custom actions read variables from
the notification so). Amazon Q itself is not simulated: the test runs the command the action
would run, as the channel's role."""

from __future__ import annotations

import json
import shlex
from typing import Any

import boto3

from local.template import Resolver, load
from tests.integration.conftest import Stack
from tests.integration.test_slack import _state, _waiting_run
from v6migrate import notify

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"Service": "chatbot.amazonaws.com"}}]}  # fmt: skip


def _role(stack: Stack, name: str, path: str = "/") -> str:
    iam = stack.session.client("iam")
    arn: str = iam.create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(TRUST)
    )["Role"]["Arn"]
    return arn


def _channel(stack: Stack, role: str, session: str = "AWSChatbot") -> boto3.Session:
    """What Amazon Q runs a custom action's command as: the channel's role, assumed."""
    arn = stack.session.client("iam").get_role(RoleName=role)["Role"]["Arn"]  # with its path
    found = stack.session.client("sts").assume_role(RoleArn=arn, RoleSessionName=session)[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=found["AccessKeyId"], aws_secret_access_key=found["SecretAccessKey"],
        aws_session_token=found["SessionToken"], region_name=stack.session.region_name,
    )  # fmt: skip


def _actions(stack: Stack) -> dict[str, dict[str, Any]]:
    """The template's custom actions, by button, resolved as the stack deployed them."""
    from pathlib import Path

    template = load(Path(__file__).resolve().parents[2] / "template.yaml")
    resolver = Resolver(template, stack.deployment.stack_name, stack.deployment.region,
                        stack.deployment.account_id)  # fmt: skip
    resolver.refs["ChatDecisionQueue"] = stack.deployment.outputs["ChatDecisionQueueUrl"]
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Chatbot::CustomAction":
            action = resolver.resolve(resource["Properties"])
            found[action["Attachments"][0]["ButtonText"]] = action
    return found


def _pressed(action: dict[str, Any], notification: dict[str, Any]) -> list[str] | None:
    """The command the button runs on this notification (None: the button is not shown)."""
    (attachment,) = action["Attachments"]
    if attachment["NotificationType"] != "Custom":
        return None
    values = {}
    for variable, path in attachment["Variables"].items():
        value: Any = {"event": notification}
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        values[variable] = value
    for criterion in attachment.get("Criteria", []):
        if criterion["Operator"] == "HAS_VALUE" and not values.get(criterion["VariableName"]):
            return None
    text = action["Definition"]["CommandText"]
    for variable, value in values.items():
        text = text.replace(f"${variable}", str(value))
    return shlex.split(text)


def _run(session: boto3.Session, command: list[str]) -> None:
    """`aws sqs send-message --region R --queue-url U --message-body B`, as the CLI runs it."""
    assert command[:3] == ["aws", "sqs", "send-message"], command
    options = dict(zip(command[3::2], command[4::2], strict=True))
    session.client("sqs", region_name=options["--region"]).send_message(
        QueueUrl=options["--queue-url"], MessageBody=options["--message-body"]
    )


def test_an_approver_role_approves_from_the_amazon_q_button_and_others_decide_nothing(
    stack: Stack,
) -> None:
    approvers = _role(stack, "oncall-leads", path="/chat/")
    _role(stack, "whole-channel")
    execution, approval_id = _waiting_run(stack, "amazon-q-yes", [approvers])
    # The Approval Requested notification, as notify publishes it for Amazon Q, shows both
    # buttons; each runs the command of its action with the approval id filled in
    asked = [e for e in stack.events() if e["detail-type"] == "Approval Requested"][-1]
    notification = notify.amazon_q(asked)
    actions = _actions(stack)
    approve = _pressed(actions["Approve"], notification)
    reject = _pressed(actions["Reject"], notification)
    assert approve is not None
    assert reject is not None
    assert approve[-1] == f"approve {approval_id}"
    assert reject[-1] == f"reject {approval_id}"
    # A progress notification has no approval id: no button
    assert _pressed(actions["Approve"], {"metadata": {"additionalContext": {}}}) is None
    # When a role not on the allow-list presses Approve, and someone sends nonsense
    _run(_channel(stack, "whole-channel"), approve)
    _run(_channel(stack, "whole-channel"), [*approve[:-1], "approve everything"])
    # Then nothing is decided
    assert _state(stack, approval_id)["status"] == "pending"
    assert stack.entered(execution)[-1] == "Approval"
    # When the approvers' role presses it
    _run(_channel(stack, "oncall-leads", "U0ALICE"), approve)
    # Then the run is approved, by that role, and goes on
    state = _state(stack, approval_id)
    assert (state["status"], state["decided_by"]) == ("approved", approvers)
    decided = [e for e in stack.events() if e["detail-type"] == "Approval Decided"]
    assert decided[-1]["detail"]["decided_by"] == approvers
    ended = stack.wait(execution)
    assert ended["status"] == "SUCCEEDED", (ended.get("error"), ended.get("cause"))
    # And a press after the decision decides nothing more
    _run(_channel(stack, "oncall-leads"), reject)
    assert _state(stack, approval_id)["status"] == "approved"


def test_a_forged_queue_record_or_approval_ask_invoked_by_hand_decides_nothing(
    stack: Stack,
) -> None:
    # Attack (issue 26): an approver may invoke the approval function (`v6migrate approve`
    # does); a record forged to look like SQS's, naming an allow-listed role's id as its
    # SenderId, decided as that role. And a forged ask opened an approval nobody's run asked.
    leads = _role(stack, "oncall-leads-forged", path="/chat/")
    execution, approval_id = _waiting_run(stack, "amazon-q-forged", [leads])
    role_id = stack.session.client("iam").get_role(RoleName="oncall-leads-forged")["Role"]["RoleId"]
    queue = stack.session.client("sqs").get_queue_attributes(
        QueueUrl=stack.deployment.outputs["ChatDecisionQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    forged = {"Records": [{
        "messageId": "m-1", "body": f"approve {approval_id}", "eventSource": "aws:sqs",
        "eventSourceARN": queue, "attributes": {"SenderId": f"{role_id}:AWSChatbot"},
    }]}  # fmt: skip
    mallory = stack.as_role("developers", "mallory")
    function = mallory.client("lambda")
    answer = function.invoke(
        FunctionName=f"{stack.deployment.stack_name}-approval", Payload=json.dumps(forged)
    )
    # Then the approval function refuses it, and the approval still waits
    assert answer.get("FunctionError"), json.loads(answer["Payload"].read())
    assert _state(stack, approval_id)["status"] == "pending"
    ask = {"action": "request", "task_token": "forged-token", "migration_id": "nobodys-run",
           "summary": {}, "policy": {"approvers": [leads]}}  # fmt: skip
    answer = function.invoke(
        FunctionName=f"{stack.deployment.stack_name}-approval", Payload=json.dumps(ask)
    )
    assert answer.get("FunctionError")
    assert not [e for e in stack.events() if e["detail"].get("migration_id") == "nobodys-run"]
    stack.session.client("stepfunctions").stop_execution(executionArn=execution)
