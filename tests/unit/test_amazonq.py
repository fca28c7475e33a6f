"""Decisions from Amazon Q's custom actions, through the chat decision queue (`amazonq.py`):
what a record must carry, and which allow-listed role its SQS `SenderId` is."""

from __future__ import annotations

from typing import Any

import pytest

from v6migrate import amazonq
from v6migrate.approval import NotAnApprover
from v6migrate.errors import InputError

QUEUE = "arn:aws:sqs:eu-west-1:111111111111:v6migrate-chat-decisions"
LEADS = "arn:aws:iam::111111111111:role/chat/oncall-leads"


def _record(body: str, sender: str = "AROAEXAMPLEEXAMPLE01:AWSChatbot") -> dict[str, Any]:
    return {"messageId": "m-1", "body": body, "attributes": {"SenderId": sender},
            "eventSource": "aws:sqs", "eventSourceARN": QUEUE}  # fmt: skip


class _Iam:
    """IAM's GetRole for the roles it holds, by name: (id, ARN)."""

    class exceptions:
        class NoSuchEntityException(Exception):
            pass

    def __init__(self, roles: dict[str, tuple[str, str]]) -> None:
        self.roles = roles
        self.asked: list[str] = []

    def get_role(self, RoleName: str) -> dict[str, Any]:
        self.asked.append(RoleName)
        if RoleName not in self.roles:
            raise self.exceptions.NoSuchEntityException(RoleName)
        role_id, arn = self.roles[RoleName]
        return {"Role": {"RoleId": role_id, "Arn": arn, "RoleName": RoleName}}


def test_a_record_is_a_decision_by_a_roles_session_on_the_stacks_queue() -> None:
    decision = amazonq.queued(_record("approve 6d9659c694235581"))
    assert (decision.decision, decision.approval_id) == ("approve", "6d9659c694235581")
    assert (decision.role_id, decision.session) == ("AROAEXAMPLEEXAMPLE01", "AWSChatbot")
    assert decision.account_id == "111111111111"
    assert amazonq.queued(_record("  reject   6d9659c694235581 ")).decision == "reject"


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (_record("approve"), "not a decision"),
        (_record("approve 6d9659c694235581 now"), "not a decision"),
        (_record("APPROVE 6d9659c694235581"), "not a decision"),
        (_record("approve ../../etc"), "not a decision"),
        (_record("approve 6d9659c694235581", sender="AIDAEXAMPLEEXAMPLE01"), "role's session"),
        (_record("approve 6d9659c694235581", sender=""), "role's session"),
        ({**_record("approve 6d9659c694235581"), "eventSourceARN": "x"}, "not an SQS record"),
    ],
)
def test_anything_else_is_refused_saying_why(record: dict[str, Any], why: str) -> None:
    with pytest.raises(InputError, match=why):
        amazonq.queued(record)


def test_the_decider_is_the_allow_listed_role_whose_id_sent_it() -> None:
    other = "arn:aws:iam::111111111111:role/whole-channel"
    iam = _Iam({"oncall-leads": ("AROAEXAMPLEEXAMPLE01", LEADS),
                "whole-channel": ("AROAOTHEROTHEROTHER2", other)})  # fmt: skip
    allowed = ["slack:T0/U0ALICE", "arn:aws:iam::222222222222:role/oncall-leads", LEADS]
    decision = amazonq.queued(_record("approve 6d9659c694235581"))
    assert amazonq.decider(decision, allowed, iam) == LEADS
    # Only this account's roles are looked up (another account's GetRole is not ours to call)
    assert iam.asked == ["oncall-leads"]


def test_a_role_of_the_same_name_with_another_id_or_none_on_the_list_is_not_the_decider() -> None:
    decision = amazonq.queued(_record("approve 6d9659c694235581"))
    # the role was deleted and made again: same name, another id
    again = _Iam({"oncall-leads": ("AROANEWNEWNEWNEWNEW3", LEADS)})
    with pytest.raises(NotAnApprover, match="AROAEXAMPLEEXAMPLE01"):
        amazonq.decider(decision, [LEADS], again)
    # or gone
    with pytest.raises(NotAnApprover):
        amazonq.decider(decision, [LEADS], _Iam({}))
    # a sender whose role the list does not name
    with pytest.raises(NotAnApprover):
        amazonq.decider(decision, ["arn:aws:iam::111111111111:user/alice"], _Iam({}))
