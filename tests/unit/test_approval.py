"""Approvals bound to the plan: taken once, only from an approver, never from the requester
unless allowed, two people when asked (issue 11, item 1). DynamoDB is moto's; the run being
resumed is a recorder of SendTaskSuccess and SendTaskFailure."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from v6migrate.approval import (
    REJECTED,
    ApprovalRefused,
    ApprovalRequest,
    Approvals,
    plan_hash,
    what_changed,
)
from v6migrate.models import ApprovalPolicy, Plan, PlanSummary

OPS = "arn:aws:iam::111111111111:role/ops"
ALICE = "arn:aws:sts::111111111111:assumed-role/ops/alice"
BOB = "arn:aws:sts::111111111111:assumed-role/ops/bob"
CAROL = "arn:aws:iam::111111111111:user/people/carol"
MALLORY = "arn:aws:sts::111111111111:assumed-role/developers/mallory"
CAROL_AS_APPROVER = "arn:aws:sts::111111111111:assumed-role/leads/carol"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAA-a-task-token-that-never-leaves-aws"


class Resumed:
    """Stands for Step Functions: every SendTaskSuccess and SendTaskFailure it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def send_task_success(self, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append(("success", kwargs))

    def send_task_failure(self, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append(("failure", kwargs))


@pytest.fixture
def approvals(moto: None) -> tuple[Approvals, Resumed]:
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    dynamodb.create_table(
        TableName="ledger", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
    )  # fmt: skip
    resumed = Resumed()
    return Approvals(dynamodb, "ledger", resumed), resumed


def _summary() -> PlanSummary:
    return PlanSummary(
        migration_id="orders-prod-apply-1", cluster="orders-prod", account_id="222222222222",
        region="eu-west-1", mode="apply", blocked=False, blockers=(), warnings=(),
        counts={"vpc": 3}, changes=(),
    )  # fmt: skip


def _open(approvals: Approvals, **policy: Any) -> str:
    request = ApprovalRequest(
        task_token=TOKEN, migration_id="orders-prod-apply-1", summary=_summary(),
        policy=ApprovalPolicy(**{"approvers": (OPS, CAROL_AS_APPROVER), **policy}),
    )  # fmt: skip
    return approvals.open(request, "hash-of-the-plan")


def test_an_approver_approves_once_and_the_run_resumes_with_the_plans_hash(
    approvals: tuple[Approvals, Resumed],
) -> None:
    store, resumed = approvals
    approval_id = _open(store)
    outcome = store.decide(approval_id, ALICE, "approve")
    assert (outcome.status, outcome.approvers) == ("approved", (ALICE,))
    assert [kind for kind, _ in resumed.calls] == ["success"]
    assert '"plan_hash": "hash-of-the-plan"' in resumed.calls[0][1]["output"]
    # And a second decision is refused: it was taken
    with pytest.raises(ApprovalRefused, match="already approved"):
        store.decide(approval_id, BOB, "reject")
    assert len(resumed.calls) == 1


def test_two_approvers_at_once_give_one_decision(approvals: tuple[Approvals, Resumed]) -> None:
    # Given one approval that one approver settles, and two approvers clicking together, many
    # times over (the race is between their conditional writes)
    store, resumed = approvals
    for _ in range(50):
        resumed.calls.clear()
        approval_id = _open(store)
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def click(
            who: str, approval_id: str = approval_id, barrier: Any = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:  # fmt: skip
            barrier.wait()
            try:
                outcomes.append(store.decide(approval_id, who, "approve").status)
            except ApprovalRefused:
                outcomes.append("refused")

        threads = [threading.Thread(target=click, args=(who,)) for who in (ALICE, BOB)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Then the run is resumed exactly once
        assert [kind for kind, _ in resumed.calls] == ["success"]
        assert sorted(outcomes) == ["approved", "refused"]


def test_the_same_approver_clicking_twice_resumes_the_run_once(
    approvals: tuple[Approvals, Resumed],
) -> None:
    store, resumed = approvals
    approval_id = _open(store, required=2)
    assert store.decide(approval_id, ALICE, "approve").status == "pending"
    with pytest.raises(ApprovalRefused, match="approved it already"):
        store.decide(approval_id, ALICE, "approve")
    assert resumed.calls == []


def test_two_person_approval_needs_two_distinct_approvers(
    approvals: tuple[Approvals, Resumed],
) -> None:
    store, resumed = approvals
    approval_id = _open(store, approvers=(OPS, CAROL), required=2)
    first = store.decide(approval_id, ALICE, "approve")
    assert (first.status, first.needed) == ("pending", 2)
    assert resumed.calls == []
    second = store.decide(approval_id, CAROL, "approve")
    assert (second.status, second.approvers) == ("approved", (ALICE, CAROL))
    assert [kind for kind, _ in resumed.calls] == ["success"]


def test_two_sessions_of_one_role_are_one_approver(approvals: tuple[Approvals, Resumed]) -> None:
    # Attack (issue 26): sessions bob and carol of the role ops approved a two-person run.
    # Whoever may assume a role names its session: a role is one approver.
    store, resumed = approvals
    approval_id = _open(store, approvers=(OPS, CAROL), required=2)
    store.decide(approval_id, ALICE, "approve")
    with pytest.raises(ApprovalRefused, match=f"approved it already, as {ALICE}"):
        store.decide(approval_id, BOB, "approve")
    assert resumed.calls == []


SSO = "arn:aws:iam::111111111111:role/AWSReservedSSO_Platform_*"
SSO_ALICE = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Platform_0a1b2c3d/alice"
SSO_BOB = "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Platform_0a1b2c3d/bob"
SSO_ROLE = "arn:aws:iam::111111111111:role/AWSReservedSSO_Platform_0a1b2c3d"


def test_sessions_an_identity_source_names_are_people_only_where_the_policy_says(
    approvals: tuple[Approvals, Resumed],
) -> None:
    # Given a permission set's role of IAM Identity Center, whose sessions it names after
    # each person signed in, and a two-person run alice asked for
    store, resumed = approvals
    where = {"approvers": (SSO_ROLE,), "required": 2, "requested_by": SSO_ALICE}
    plain = _open(store, **where)
    named = _open(store, **where, people_by_session=(SSO,))
    # Then without the platform's word, its sessions are one approver, the requester's role
    with pytest.raises(ApprovalRefused, match="asked for this run"):
        store.decide(plain, SSO_BOB, "approve")
    # And with it, bob is a person of his own: he approves; alice still may not
    first = store.decide(named, SSO_BOB, "approve")
    assert (first.status, first.approvers) == ("pending", (SSO_BOB,))
    with pytest.raises(ApprovalRefused, match="asked for this run"):
        store.decide(named, SSO_ALICE, "approve")
    assert resumed.calls == []


def test_another_session_of_the_requesters_role_may_not_approve(
    approvals: tuple[Approvals, Resumed],
) -> None:
    # Attack (issue 26): ops/alice asked; ops/bob approved
    store, resumed = approvals
    approval_id = _open(store, approvers=(OPS, CAROL), requested_by=ALICE)
    with pytest.raises(ApprovalRefused, match="asked for this run"):
        store.decide(approval_id, BOB, "approve")
    assert resumed.calls == []


def test_someone_not_on_the_allow_list_cannot_decide(approvals: tuple[Approvals, Resumed]) -> None:
    store, resumed = approvals
    approval_id = _open(store)
    for decision in ("approve", "reject"):
        with pytest.raises(ApprovalRefused, match="is not an approver"):
            store.decide(approval_id, MALLORY, decision)  # type: ignore[arg-type]
    assert resumed.calls == []


def test_the_requester_cannot_approve_their_own_run_unless_allowed(
    approvals: tuple[Approvals, Resumed],
) -> None:
    store, resumed = approvals
    approval_id = _open(store, requested_by=ALICE)
    with pytest.raises(ApprovalRefused, match="asked for this run"):
        store.decide(approval_id, ALICE, "approve")
    assert resumed.calls == []
    # nor may another session of the same role: a role is one person (issue 26)
    with pytest.raises(ApprovalRefused, match="asked for this run"):
        store.decide(approval_id, BOB, "approve")
    assert store.decide(approval_id, CAROL_AS_APPROVER, "approve").status == "approved"
    allowed = _open(store, requested_by=ALICE, allow_self_approval=True)
    assert store.decide(allowed, ALICE, "approve").status == "approved"


def test_a_rejection_ends_the_run_with_its_own_error(approvals: tuple[Approvals, Resumed]) -> None:
    store, resumed = approvals
    approval_id = _open(store, required=2)
    store.decide(approval_id, ALICE, "approve")
    outcome = store.decide(approval_id, BOB, "reject")
    assert outcome.status == "rejected"
    assert [(kind, call["error"]) for kind, call in resumed.calls] == [("failure", REJECTED)]


def test_an_expired_or_unknown_approval_is_not_decided(
    approvals: tuple[Approvals, Resumed],
) -> None:
    store, resumed = approvals
    approval_id = _open(store, timeout_seconds=60)
    with pytest.raises(ApprovalRefused, match="expired"):
        store.decide(approval_id, ALICE, "approve", now=2**40)
    with pytest.raises(ApprovalRefused, match="no such approval"):
        store.decide("0123456789abcdef", ALICE, "approve")
    assert resumed.calls == []


def test_the_token_is_kept_and_never_returned(approvals: tuple[Approvals, Resumed]) -> None:
    store, _ = approvals
    approval_id = _open(store)
    assert TOKEN not in approval_id
    outcome = store.decide(approval_id, ALICE, "approve")
    assert TOKEN not in outcome.model_dump_json()
    assert TOKEN not in repr(ApprovalRequest(
        task_token=TOKEN, migration_id="m", summary=_summary(), policy=ApprovalPolicy(),
    ))  # fmt: skip


def test_the_plan_hash_moves_with_any_change_and_says_what_moved() -> None:
    from v6migrate.models import AddIpv6Route

    base = Plan(cluster="c", account_id="222222222222", region="eu-west-1", vpc_id="vpc-1")
    route = AddIpv6Route(
        stage="vpc",
        target="rtb-1",
        gateway_id="eigw-1",
        destination="::/0",
        via="egress-only-gateway",
    )
    moved = base.model_copy(update={"changes": (route,)})
    assert plan_hash(base) == plan_hash(base.model_copy())
    assert plan_hash(base) != plan_hash(moved)
    assert what_changed(base, moved) == [f"+ {route.change_id}"]
    assert what_changed(moved, base) == [f"- {route.change_id}"]


def test_a_plan_with_the_same_change_ids_but_other_details_says_so() -> None:
    from v6migrate.models import AddIpv6Route

    base = Plan(cluster="c", account_id="222222222222", region="eu-west-1", vpc_id="vpc-1")

    def route(gateway: str) -> AddIpv6Route:
        return AddIpv6Route(stage="vpc", target="rtb-1", gateway_id=gateway, destination="::/0",
                            via="egress-only-gateway")  # fmt: skip

    before = base.model_copy(update={"changes": (route("eigw-1"),)})
    after = base.model_copy(update={"changes": (route("eigw-2"),)})
    assert what_changed(before, after) == ["~ the same changes with other details or findings"]
    assert what_changed(after, before) == ["~ the same changes with other details or findings"]
    assert what_changed(before, before) == []


@pytest.mark.parametrize(
    ("caller", "allowed", "expected"),
    [
        # a role with a path stands for its sessions (an STS session ARN drops the path)
        (ALICE, ("arn:aws:iam::111111111111:role/team/ops",), True),
        (CAROL, (CAROL,), True),
        # the same role name in another account is another role
        ("arn:aws:sts::999999999999:assumed-role/ops/eve", (OPS,), False),
        # another role of the account, whatever its name sorts as
        ("arn:aws:sts::111111111111:assumed-role/zeta/eve", (OPS,), False),
        ("arn:aws:sts::111111111111:assumed-role/abc/eve", (OPS,), False),
        # a user is not the role of the same name
        ("arn:aws:iam::111111111111:user/ops", (OPS,), False),
        # one session named: only that session (the caller's ARN comes from STS's answer, a
        # string of its own)
        (BOB, (ALICE,), False),
        ("arn:aws:sts::111111111111:assumed-role/ops/aaron", (ALICE,), False),
        ("".join(list(ALICE)), (ALICE,), True),
    ],
)  # fmt: skip
def test_who_is_an_approver(caller: str, allowed: tuple[str, ...], expected: bool) -> None:
    from v6migrate.approval import is_approver

    assert is_approver(caller, allowed) is expected


def test_a_requester_is_their_role_whether_named_by_role_or_by_one_session(
    approvals: tuple[Approvals, Resumed],
) -> None:
    store, _ = approvals
    for requester in (OPS, BOB):
        asked = _open(store, requested_by=requester)
        for who in (ALICE, BOB):
            with pytest.raises(ApprovalRefused, match="asked for this run"):
                store.decide(asked, who, "approve")
    # a requester of another role, whatever its name sorts as, is not the approver
    for other in ("arn:aws:iam::111111111111:role/abc", "arn:aws:iam::111111111111:role/zeta"):
        approval_id = _open(store, requested_by=other)
        assert store.decide(approval_id, ALICE, "approve").status == "approved"


def test_a_chat_approver_is_only_the_user_listed_and_never_an_iam_requester(
    approvals: tuple[Approvals, Resumed],
) -> None:
    store, _ = approvals
    alice = "slack:T0AB12CD3/U0ALICE"
    approval_id = _open(store, approvers=(alice,), requested_by=OPS)
    for stranger in ("slack:T0AB12CD3/U0MALLORY", "slack:T0OTHER99/U0ALICE", OPS):
        with pytest.raises(ApprovalRefused, match="not an approver"):
            store.decide(approval_id, stranger, "approve")
    assert store.decide(approval_id, alice, "approve").status == "approved"


def test_a_decided_approval_refuses_every_later_decision(
    approvals: tuple[Approvals, Resumed],
) -> None:
    store, resumed = approvals
    approval_id = _open(store)
    store.decide(approval_id, ALICE, "reject")
    for decision in ("approve", "reject"):
        with pytest.raises(ApprovalRefused, match="already rejected"):
            store.decide(approval_id, BOB, decision)  # type: ignore[arg-type]
    assert len(resumed.calls) == 1


def test_an_approval_expires_at_its_expiry_to_the_second(
    approvals: tuple[Approvals, Resumed],
) -> None:
    store, _ = approvals
    approval_id = store.open(
        ApprovalRequest(task_token=TOKEN, migration_id="m", summary=_summary(),
                        policy=ApprovalPolicy(approvers=(OPS,), timeout_seconds=60)),
        "h", now=1000.0,
    )  # fmt: skip
    with pytest.raises(ApprovalRefused, match="expired"):
        store.decide(approval_id, ALICE, "approve", now=1060.0)
    assert store.decide(approval_id, ALICE, "approve", now=1059.0).status == "approved"


def test_an_approver_who_approved_may_still_reject_before_it_is_settled(
    approvals: tuple[Approvals, Resumed],
) -> None:
    # The decisions come as a request's JSON does: strings parsed, not the code's literals
    approve, reject = json.loads('["approve", "reject"]')
    store, resumed = approvals
    approval_id = _open(store, required=2)
    store.decide(approval_id, ALICE, approve)
    with pytest.raises(ApprovalRefused, match="approved it already"):
        store.decide(approval_id, ALICE, json.loads('"approve"'))
    assert store.decide(approval_id, ALICE, reject).status == "rejected"
    assert [kind for kind, _ in resumed.calls] == ["failure"]


def test_a_ledger_error_is_not_taken_for_a_decision_made_meanwhile(
    approvals: tuple[Approvals, Resumed],
) -> None:
    from botocore.exceptions import ClientError

    from v6migrate.errors import TransientError, V6MigrateError

    store, resumed = approvals
    approval_id = _open(store)
    real = store._db

    class Failing:
        code = ""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def update_item(self, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "UpdateItem")

    store._db = failing = Failing()
    for code, raised in (("ProvisionedThroughputExceededException", TransientError),
                         ("AccessDeniedException", V6MigrateError)):  # fmt: skip
        failing.code = code
        for decision in ("approve", "reject"):
            with pytest.raises(raised) as error:
                store.decide(approval_id, ALICE, decision)  # type: ignore[arg-type]
            assert not isinstance(error.value, ApprovalRefused), code
    assert resumed.calls == []


ALICE_IN_SLACK = "slack:T0V6MIGR8/U0ALICE"
BOB_IN_SLACK = "slack:T0V6MIGR8/U0BOB"


def test_one_person_with_several_identities_is_one_approver(
    approvals: tuple[Approvals, Resumed],
) -> None:
    """`people` names the identities of one person (an IAM session and a Slack id, say): with
    them, a second approval by the same person under another identity is refused, and the
    requester cannot approve as their other self."""
    store, resumed = approvals
    people = ((ALICE, ALICE_IN_SLACK), (BOB, BOB_IN_SLACK))
    approvers = (OPS, ALICE_IN_SLACK, BOB_IN_SLACK)
    approval_id = _open(store, approvers=approvers, required=2, people=people)
    assert store.decide(approval_id, ALICE, "approve").status == "pending"
    with pytest.raises(ApprovalRefused, match="approved it already, as"):
        store.decide(approval_id, ALICE_IN_SLACK, "approve")
    assert resumed.calls == []
    assert store.decide(approval_id, BOB_IN_SLACK, "approve").status == "approved"
    # The requester's other identity is the requester too
    asked = _open(store, approvers=approvers, requested_by=ALICE, people=people)
    with pytest.raises(ApprovalRefused, match="asked for this run"):
        store.decide(asked, ALICE_IN_SLACK, "approve")
    # Without `people`, two identities are two approvers (what the list cannot know)
    unknown = _open(store, approvers=approvers, required=2)
    store.decide(unknown, ALICE, "approve")
    assert store.decide(unknown, ALICE_IN_SLACK, "approve").status == "approved"


def test_people_are_checked_when_the_request_is_read() -> None:
    with pytest.raises(ValueError, match="at least two identities"):
        ApprovalPolicy(approvers=(OPS,), people=((ALICE,),))
    with pytest.raises(ValueError, match="in two people"):
        ApprovalPolicy(approvers=(OPS,), people=((ALICE, ALICE_IN_SLACK), (ALICE, BOB)))
    # How many people the list names: a role stands for all its sessions, so here one person
    # may be `OPS` and another the Slack users, whom `people` ties to sessions of it
    policy = ApprovalPolicy(approvers=(ALICE, ALICE_IN_SLACK, BOB_IN_SLACK),
                            people=((ALICE, ALICE_IN_SLACK),))  # fmt: skip
    assert policy.persons() == 2
    assert ApprovalPolicy(approvers=(ALICE, ALICE_IN_SLACK)).persons() == 2


class Refusing(Resumed):
    """Step Functions refusing the first call (throttled), then taking them."""

    def __init__(self) -> None:
        super().__init__()
        self.refusals = 1

    def send_task_success(self, **kwargs: Any) -> None:
        if self.refusals:
            self.refusals -= 1
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}},
                              "SendTaskSuccess")  # fmt: skip
        super().send_task_success(**kwargs)


def test_a_decision_that_cannot_resume_the_run_leaves_the_approval_decidable_again(
    approvals: tuple[Approvals, Resumed],
) -> None:
    # issue 26, item 7: settled first, a failed resume left "approved" with the run waiting,
    # and a retry was refused as "decided meanwhile"
    store, _ = approvals
    refusing = Refusing()
    store = Approvals(store._db, store._table, refusing)
    approval_id = _open(store)
    from v6migrate.errors import TransientError

    with pytest.raises(TransientError):
        store.decide(approval_id, ALICE, "approve")
    assert store.state(approval_id)["status"] == "pending"
    # When the approver decides again, Then the run is resumed, once
    assert store.decide(approval_id, ALICE, "approve").status == "approved"
    assert [kind for kind, _ in refusing.calls] == ["success"]


def test_two_identities_of_one_person_are_counted_once_even_at_the_same_moment(
    approvals: tuple[Approvals, Resumed],
) -> None:
    # issue 26, item 2: both approvals passed the check before either was written; the
    # conditional write itself must hold the person, not only the identity
    store, _ = approvals
    slack = "slack:T0AB12CD3/U0ALICE"
    approval_id = _open(store, approvers=(OPS, slack), required=2, people=((ALICE, slack),))
    from v6migrate.models import person

    people = ((ALICE, slack),)
    store._add(approval_id, ALICE, person(ALICE, people))
    with pytest.raises(ApprovalRefused, match="approved by the same person"):
        store._add(approval_id, slack, person(slack, people))
