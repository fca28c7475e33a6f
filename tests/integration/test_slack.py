"""Decisions from Slack buttons (issue 11, items 2 and 8): the callback is taken only when
Slack's signature holds within five minutes and only once; the presser must be on the
allow-list; the message is updated to say who decided; a GET decides nothing; no task token
reaches a chat message or an answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local.deploy import SLACK_SIGNING_SECRET_NAME
from local.seed import ESTATES, seed
from local.slack import SimulatedSlack, sign
from tests.integration.conftest import Stack
from tests.integration.test_approval import _task_tokens

SMALL = ESTATES["small"]
ROUTE = "/chat/slack/actions"


@pytest.fixture
def slack(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedSlack]:
    simulated = SimulatedSlack().start()
    # the function may post to this Slack's response_url (on AWS: Slack's host only)
    monkeypatch.setenv("V6MIGRATE_SLACK_RESPONSE_PREFIX", simulated.url + "/")
    yield simulated
    simulated.stop()


def _secret(stack: Stack) -> str:
    client = stack.session.client("secretsmanager")
    return str(client.get_secret_value(SecretId=SLACK_SIGNING_SECRET_NAME)["SecretString"])


def _waiting_run(
    stack: Stack, name: str, approvers: list[str], required: int = 1
) -> tuple[str, str]:
    seed(SMALL, stack.session)
    policy = {"approvers": approvers, "required": required}
    request = {"cluster": SMALL.cluster, "account_id": SMALL.account_id, "region": SMALL.region,
               "mode": "apply", "approval": policy}  # fmt: skip
    execution = stack.start(request, name)
    return execution, stack.approval_id(name)


def _press(stack: Stack, slack: SimulatedSlack, action: str, approval_id: str, user: str,
           secret: str | None = None, at: int | None = None) -> Any:  # fmt: skip
    body, headers = slack.press(action, approval_id, user)
    signed = sign(secret or _secret(stack), body, at)
    return stack.api("POST", ROUTE, body, sign=False, headers={**headers, **signed})


def _state(stack: Stack, approval_id: str) -> dict[str, Any]:
    from v6migrate.approval import Approvals

    table = f"{stack.deployment.stack_name}-LedgerTable"
    approvals = Approvals(stack.session.client("dynamodb"), table, None)
    return approvals.state(approval_id)


def test_an_approver_approves_from_slack_and_the_message_says_who(
    stack: Stack, slack: SimulatedSlack
) -> None:
    execution, approval_id = _waiting_run(stack, "slack-yes", [slack.user("U0ALICE")])
    answer = _press(stack, slack, "v6migrate_approve", approval_id, "U0ALICE")
    assert answer.status == 200, answer
    assert _state(stack, approval_id)["status"] == "approved"
    assert _state(stack, approval_id)["decided_by"] == "slack:T0V6MIGR8/U0ALICE"
    assert stack.wait(execution)["status"] == "SUCCEEDED"
    # The message the button was on now says who decided
    (update,) = slack.updates
    assert update["replace_original"] is True
    assert "Approved by <@U0ALICE>" in update["text"]
    # And the decision event names them
    decided = [e for e in stack.events() if e["detail-type"] == "Approval Decided"]
    assert decided[-1]["detail"]["decided_by"] == "slack:T0V6MIGR8/U0ALICE"
    # No task token in the chat message or the answer
    tokens = _task_tokens(stack, execution)
    assert tokens
    seen = json.dumps(slack.updates) + json.dumps(answer.body)
    assert not any(token in seen for token in tokens)


def test_a_wrong_secret_a_stale_timestamp_or_no_signature_decides_nothing(
    stack: Stack, slack: SimulatedSlack
) -> None:
    execution, approval_id = _waiting_run(stack, "slack-forged", [slack.user("U0ALICE")])
    forged = _press(stack, slack, "v6migrate_approve", approval_id, "U0ALICE", secret="guess")
    stale = _press(stack, slack, "v6migrate_approve", approval_id, "U0ALICE",
                   at=int(time.time()) - 301)  # fmt: skip
    body, headers = slack.press("v6migrate_approve", approval_id, "U0ALICE")
    unsigned = stack.api("POST", ROUTE, body, sign=False, headers=headers)
    for answer, why in ((forged, "signature does not match"), (stale, "five minutes"),
                        (unsigned, "not a signed Slack request")):  # fmt: skip
        assert answer.status == 401, answer
        assert why in answer.body["message"]
    # Nor does a GET, of the callback or of an approval (no such route: API Gateway's 403)
    assert stack.api("GET", ROUTE, sign=False).status == 403
    assert stack.api("GET", f"/approvals/{approval_id}").status == 403
    assert _state(stack, approval_id)["status"] == "pending"
    assert slack.updates == []
    assert stack.entered(execution)[-1] == "Approval"


def test_a_replayed_callback_is_taken_once(stack: Stack, slack: SimulatedSlack) -> None:
    _, approval_id = _waiting_run(
        stack, "slack-replay", [slack.user("U0ALICE"), slack.user("U0BOB")], required=2
    )
    body, headers = slack.press("v6migrate_approve", approval_id, "U0ALICE")
    signed = {**headers, **sign(_secret(stack), body)}
    first = stack.api("POST", ROUTE, body, sign=False, headers=signed)
    again = stack.api("POST", ROUTE, body, sign=False, headers=signed)
    assert (first.status, again.status) == (200, 200)
    assert again.body["message"] == "already handled"
    state = _state(stack, approval_id)
    assert (state["status"], state["approvers"]) == ("pending", ["slack:T0V6MIGR8/U0ALICE"])
    # One update: the first press's ("1 of 2"); the replay reached nothing
    assert len(slack.updates) == 1
    assert "1 of 2 approvals" in slack.updates[0]["text"]


def test_a_slack_user_not_on_the_list_is_told_and_decides_nothing(
    stack: Stack, slack: SimulatedSlack
) -> None:
    _, approval_id = _waiting_run(stack, "slack-stranger", [slack.user("U0ALICE")])
    answer = _press(stack, slack, "v6migrate_approve", approval_id, "U0MALLORY")
    assert answer.status == 200
    assert "is not an approver" in answer.body["message"]
    assert _state(stack, approval_id)["status"] == "pending"
    (told,) = slack.updates
    assert (told["replace_original"], told["response_type"]) == (False, "ephemeral")
