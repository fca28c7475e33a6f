"""The embedded SQS stamps each message with its sender, as SQS does (`local/gaps/sqs.py`).

SQS API reference, ReceiveMessage, `MessageSystemAttributeNames`: `SenderId` is, for an IAM
user, the user's id and, for an IAM role, the role's id and the session's name
(`AROA...:session`). That is the `UserId` STS's GetCallerIdentity answers the same credentials
(STS API reference, GetCallerIdentity: "the unique identifier of the calling entity"), which
these tests take as their oracle. A Lambda function an event source mapping feeds reads the
same `attributes.SenderId` in its event (Lambda developer guide, using Lambda with Amazon SQS).
moto wrote one constant id for every sender."""

from __future__ import annotations

import json

import boto3

from local.server import EmbeddedAws


def _session_of(embedded: EmbeddedAws, role: str, name: str) -> boto3.Session:
    base = embedded.session()
    iam = base.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": "*"}}]}  # fmt: skip
    try:
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    found = base.client("sts").assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"]
    return boto3.Session(
        aws_access_key_id=found["AccessKeyId"], aws_secret_access_key=found["SecretAccessKey"],
        aws_session_token=found["SessionToken"], region_name=base.region_name,
    )  # fmt: skip


def test_each_message_names_its_sender_as_sqs_does(embedded: EmbeddedAws) -> None:
    embedded.reset()
    base = embedded.session()
    queue = base.client("sqs").create_queue(QueueName="senders")["QueueUrl"]
    alice = _session_of(embedded, "chat-channel", "alice")
    bob = _session_of(embedded, "other-team", "bob")
    for session, body in ((alice, "from alice"), (bob, "from bob"), (base, "from the key")):
        session.client("sqs").send_message(QueueUrl=queue, MessageBody=body)
    alice.client("sqs").send_message_batch(
        QueueUrl=queue, Entries=[{"Id": "1", "MessageBody": "batched by alice"}]
    )
    got: dict[str, str] = {}
    for _ in range(10):
        answer = base.client("sqs").receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["SenderId"]
        )
        for message in answer.get("Messages", []):
            got[message["Body"]] = message["Attributes"]["SenderId"]
        if len(got) == 4:
            break
    expected = {
        body: session.client("sts").get_caller_identity()["UserId"]
        for session, body in ((alice, "from alice"), (bob, "from bob"), (base, "from the key"))
    }
    expected["batched by alice"] = expected["from alice"]
    assert got == expected
    role_id = base.client("iam").get_role(RoleName="chat-channel")["Role"]["RoleId"]
    assert got["from alice"] == f"{role_id}:alice"
    assert got["from alice"] != got["from bob"]
