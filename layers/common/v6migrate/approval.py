"""Approval of an apply run's plan, bound to that plan (issue 11, item 1).

The state machine's `Approval` state invokes `request` with its task token
(`lambda:invoke.waitForTaskToken`) and waits. The token (up to 2,048 characters, DOMAIN.md)
never leaves AWS: it is kept in the ledger table under a short approval id, beside the hash of
the plan it approves; only the id and the plan's summary go out, in an `Approval Requested`
event. A decision (`decide`) names the id and carries a proof of who decides: a presigned STS
GetCallerIdentity URL that signs the id and the decision (`identity.py`). It is taken once:
each approver is added with a conditional write, and the one write that turns the approval
from `pending` to `approved` or `rejected` is the only one that resumes the run, so two
clicks at once give one decision. Who may decide is the request's allow-list; the requester,
when known, may not unless the request allows it; `required` distinct approvers are needed.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any, Literal, cast

from botocore.exceptions import ClientError
from pydantic import Field

from v6migrate.errors import InputError, NotFoundError, translate
from v6migrate.events import put as put_event
from v6migrate.models import ApprovalPolicy, Frozen, Plan, PlanSummary, person, persons

# Short enough for a Slack button's value and an Amazon Q custom action's variable (DOMAIN.md)
ID_BYTES = 8
# The error a rejection ends the Approval state with (the state machine's Catch names it)
REJECTED = "ApprovalRejected"


# What an approval id looks like (new_id: lower-case hex); every way in checks it
APPROVAL_ID = r"^[a-z0-9]{6,32}$"


class ApprovalRefused(InputError):
    """A decision that is not taken: unknown or decided approval, not an approver, ..."""


class NotAnApprover(ApprovalRefused):
    """The caller may not decide this approval: not on its allow-list, or its requester."""


class ApprovalNotFound(ApprovalRefused, NotFoundError):
    """No approval of that id: never opened, or its record has expired."""


class ApprovalNotGranted(ApprovalRefused):
    """The run was resumed, but its approval record does not say approved (by enough people):
    a callback sent with a token read from the execution's history, say."""


def plan_hash(plan: Plan) -> str:
    """What an approval is bound to: every change and finding of the plan, canonically."""
    body = json.dumps(
        {"changes": [c.model_dump(mode="json") for c in plan.changes],
         "findings": [f.model_dump(mode="json") for f in plan.findings]},
        sort_keys=True, separators=(",", ":"),
    )  # fmt: skip
    return hashlib.sha256(body.encode()).hexdigest()


def what_changed(before: Plan, after: Plan) -> list[str]:
    """The change ids the new plan adds or drops, for the approver asked again."""
    old = {c.change_id for c in before.changes}
    new = {c.change_id for c in after.changes}
    lines = [f"+ {c}" for c in sorted(new - old)] + [f"- {c}" for c in sorted(old - new)]
    if not lines and plan_hash(before) != plan_hash(after):
        lines.append("~ the same changes with other details or findings")
    return lines


class ApprovalRequest(Frozen):
    """What the Approval state passes (its task token is `task_token`)."""

    action: Literal["request"] = "request"
    task_token: str = Field(min_length=1, max_length=2048, repr=False)
    migration_id: str
    summary: PlanSummary
    policy: ApprovalPolicy
    wave_id: str | None = None
    changed: tuple[str, ...] = ()  # set when the plan moved since an earlier approval
    # A wave's approval binds the hash of its clusters' plans (the wave has no plan of its own
    # in the ledger); a run's is its stored plan's
    plan_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class Decision(Frozen):
    action: Literal["decide"] = "decide"
    approval_id: str = Field(pattern=APPROVAL_ID)
    decision: Literal["approve", "reject"]
    proof: str = Field(min_length=1, max_length=8192, repr=False)
    reason: str = Field(default="", max_length=500)


class Outcome(Frozen):
    """What a decision did: recorded, and whether it settled the approval."""

    approval_id: str
    migration_id: str
    status: Literal["pending", "approved", "rejected"]
    approvers: tuple[str, ...]
    decided_by: str
    needed: int
    where: dict[str, Any]  # the run's migration id, account, Region, cluster, wave


def new_id() -> str:
    return secrets.token_hex(ID_BYTES)


def _principal(arn: str) -> tuple[str, str, str]:
    """(account, kind, name) of an IAM principal or STS session ARN; a role's path dropped,
    as an STS session ARN names the role without it."""
    parts = arn.split(":", 5)
    account, resource = parts[4], parts[5]
    kind, _, rest = resource.partition("/")
    if kind == "assumed-role":
        return account, "role", rest.split("/")[0]
    return account, kind, rest.rsplit("/", 1)[-1]


def _session(arn: str) -> bool:
    return arn.split(":", 5)[5].startswith("assumed-role/")


def _chat(identity: str) -> bool:
    return not identity.startswith("arn:")


def is_approver(caller: str, allowed: tuple[str, ...]) -> bool:
    """An allow-list entry names a role (any session of it), a user, or one session (only
    that session), or a chat user (only that user)."""
    return any(
        caller == entry
        if _chat(caller) or _chat(entry) or _session(entry)
        else _principal(caller) == _principal(entry)
        for entry in allowed
    )


def is_requester(
    caller: str, requested_by: str | None, people: tuple[tuple[str, ...], ...] = (),
    by_session: tuple[str, ...] = (),
) -> bool:  # fmt: skip
    """Whether `caller` is the person who asked for the run: the same role whatever the
    session (anyone who may assume the requester's role may name a session anything), or an
    identity `people` ties to the requester."""
    if requested_by is None:
        return False
    return person(caller, people, by_session) == person(requested_by, people, by_session)


def same_person(
    caller: str, recorded: tuple[str, ...], people: tuple[tuple[str, ...], ...],
    by_session: tuple[str, ...] = (),
) -> str | None:  # fmt: skip
    """The identity in `recorded` that is the same person as `caller` (`models.person`)."""
    me = person(caller, people, by_session)
    for other in recorded:
        if person(other, people, by_session) == me:
            return other
    return None


class Approvals:
    """The approval records in the ledger table, and the run they resume."""

    def __init__(self, dynamodb: Any, table: str, sfn: Any) -> None:
        self._db = dynamodb
        self._table = table
        self._sfn = sfn

    @staticmethod
    def _key(approval_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"approval#{approval_id}"}, "sk": {"S": "approval"}}

    def open(self, request: ApprovalRequest, hashed: str, now: float | None = None) -> str:
        """Keep the token under a new short id; the id is all that goes out."""
        moment = time.time() if now is None else now
        approval_id = new_id()
        expires = int(moment + request.policy.timeout_seconds)
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._key(approval_id),
                    "task_token": {"S": request.task_token},
                    "migration_id": {"S": request.migration_id},
                    "plan_hash": {"S": hashed},
                    "policy": {"S": request.policy.model_dump_json()},
                    "where": {"S": json.dumps(_where(request.summary, request.wave_id))},
                    "status": {"S": "pending"},
                    "approvers": {"L": []},
                    "expires_at": {"N": str(expires)},
                    # DynamoDB's TTL deletes the record (and its token) a day after it expires
                    "ttl": {"N": str(expires + 86_400)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            raise translate(error, "dynamodb:PutItem approval") from error
        return approval_id

    def _read(self, approval_id: str) -> dict[str, Any]:
        item = self._db.get_item(
            TableName=self._table, Key=self._key(approval_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise ApprovalNotFound(f"approval {approval_id}: no such approval (or it expired)")
        return dict(item)

    def state(self, approval_id: str) -> dict[str, Any]:
        """Where an approval stands (never its token): status, approvers so far, who settled
        it, how many are needed, when it expires."""
        item = self._read(approval_id)
        policy = ApprovalPolicy.model_validate_json(item["policy"]["S"])
        return {
            "approval_id": approval_id,
            "status": item["status"]["S"],
            "approvers": [a["S"] for a in item["approvers"]["L"]],
            "decided_by": item.get("decided_by", {}).get("S"),
            "needed": policy.required,
            "expires_at": int(item["expires_at"]["N"]),
            "plan_hash": item["plan_hash"]["S"],
            "allowed": list(policy.approvers),
            "migration_id": item["migration_id"]["S"],
            "where": json.loads(item["where"]["S"]),
        }

    def decide(
        self, approval_id: str, caller: str, decision: Literal["approve", "reject"],
        now: float | None = None,
    ) -> Outcome:  # fmt: skip
        """Record `caller`'s decision once; the decision that settles the approval resumes
        the run (SendTaskSuccess or SendTaskFailure), and only that one."""
        moment = time.time() if now is None else now
        item = self._read(approval_id)
        policy = ApprovalPolicy.model_validate_json(item["policy"]["S"])
        migration_id = item["migration_id"]["S"]
        recorded = tuple(a["S"] for a in item["approvers"]["L"])

        def outcome(status: Any, approvers: tuple[str, ...]) -> Outcome:
            return Outcome(
                approval_id=approval_id, migration_id=migration_id, status=status,
                approvers=approvers, decided_by=caller, needed=policy.required,
                where=json.loads(item["where"]["S"]),
            )  # fmt: skip

        if item["status"]["S"] != "pending":
            raise ApprovalRefused(f"approval {approval_id}: already {item['status']['S']}")
        if moment >= int(item["expires_at"]["N"]):
            raise ApprovalRefused(f"approval {approval_id}: expired")
        if not is_approver(caller, policy.approvers):
            raise NotAnApprover(f"approval {approval_id}: {caller} is not an approver of it")
        if not policy.allow_self_approval and is_requester(
            caller, policy.requested_by, policy.people, policy.people_by_session
        ):
            raise NotAnApprover(
                f"approval {approval_id}: {caller} asked for this run and may not decide it"
            )
        already = same_person(caller, recorded, policy.people, policy.people_by_session)
        if decision == "approve" and already is not None:
            if persons(recorded, policy.people, policy.people_by_session) >= policy.required:
                # Enough approvals were recorded but the run was not resumed (that call
                # failed and the approval was reopened): the same approver's retry resumes it
                return self._resume(approval_id, item, caller, "approved", recorded, outcome)
            # One person, one approval: every session of a role is that role, and the
            # identities `people` ties are one person
            raise ApprovalRefused(
                f"approval {approval_id}: {caller} approved it already"
                + (f", as {already}" if already != caller else "")
            )
        if decision == "reject":
            return self._resume(approval_id, item, caller, "rejected", recorded, outcome)
        me = person(caller, policy.people, policy.people_by_session)
        approvers = self._add(approval_id, caller, me)
        if persons(approvers, policy.people, policy.people_by_session) < policy.required:
            return outcome("pending", approvers)
        return self._resume(approval_id, item, caller, "approved", approvers, outcome)

    def _resume(
        self, approval_id: str, item: dict[str, Any], caller: str, status: str,
        approvers: tuple[str, ...], outcome: Any,
    ) -> Outcome:  # fmt: skip
        """Settle the approval (the one write from `pending`), then resume or end the run. If
        Step Functions does not take the call (throttled, denied), the approval is reopened
        and the error raised: decided again, it resumes the run then."""
        if not self._settle(approval_id, status, caller):
            # Another approver's write settled it first: one decision, theirs
            raise ApprovalRefused(f"approval {approval_id}: decided meanwhile")
        token = item["task_token"]["S"]
        try:
            if status == "rejected":
                self._sfn.send_task_failure(
                    taskToken=token, error=REJECTED, cause=json.dumps({"rejected_by": caller})
                )
            else:
                self._sfn.send_task_success(
                    taskToken=token,
                    output=json.dumps({"approval_id": approval_id, "approvers": list(approvers),
                                       "plan_hash": item["plan_hash"]["S"]}),
                )  # fmt: skip
        except ClientError as error:
            self._update(
                approval_id, "SET #status = :pending REMOVE decided_by",
                "#status = :status AND decided_by = :caller",
                {":status": {"S": status}, ":caller": {"S": caller}},
            )  # fmt: skip
            raise translate(error, f"states:SendTask for approval {approval_id}") from error
        return cast(Outcome, outcome(status, approvers))

    def _add(self, approval_id: str, caller: str, who: str) -> tuple[str, ...]:
        """Append the approver while the approval is pending and lacks the person (`who`): the
        condition reads the persons recorded so far, so two identities of one person
        approving at the same moment are counted once (a retry or a second click adds
        nothing)."""
        item = self._update(
            approval_id,
            "SET approvers = list_append(approvers, :me) ADD persons :who",
            "#status = :pending AND NOT contains(persons, :person)",
            {":me": {"L": [{"S": caller}]}, ":who": {"SS": [who]}, ":person": {"S": who}},
        )
        if item is None:
            raise ApprovalRefused(
                f"approval {approval_id}: decided meanwhile, or approved by the same person"
            )
        return tuple(a["S"] for a in item["approvers"]["L"])

    def _settle(self, approval_id: str, status: str, caller: str) -> bool:
        """The one write from `pending`: True for the caller whose write it was."""
        return (
            self._update(
                approval_id,
                "SET #status = :status, decided_by = :caller",
                "#status = :pending",
                {":status": {"S": status}, ":caller": {"S": caller}},
            )
            is not None
        )

    def _update(
        self, approval_id: str, update: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """A conditional write to an approval (`:pending` is the pending status): its new
        attributes, or None when the condition did not hold (another writer came first)."""
        try:
            return dict(
                self._db.update_item(
                    TableName=self._table,
                    Key=self._key(approval_id),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":pending": {"S": "pending"}, **values},
                    ReturnValues="ALL_NEW",
                )["Attributes"]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise translate(error, "dynamodb:UpdateItem approval") from error


def granted(ledger: Any, migration_id: str, policy: ApprovalPolicy) -> str:
    """The plan hash this run's approval holds, if its record (the ledger's, not the callback's
    output) says approved by `policy.required` people; a wave's run, the hash the wave approved."""
    if policy.preapproved_plan_hash:
        # Only a wave's gate, once its approvers approved, notes a run's preapproval
        kept = ledger.read_note(migration_id, "preapproval")
        if not kept or kept.get("plan_hash") != policy.preapproved_plan_hash:
            raise ApprovalNotGranted(
                f"{migration_id}: its request says a wave approved its plan, and no wave "
                "did; nothing was changed"
            )
        return policy.preapproved_plan_hash
    note = ledger.read_note(migration_id, "approval")
    if not note:
        raise ApprovalNotGranted(f"{migration_id}: no approval was asked for this run")
    state = Approvals(ledger.dynamodb, ledger.table, None).state(note["approval_id"])
    if state["status"] != "approved":
        raise ApprovalNotGranted(
            f"approval {state['approval_id']} is {state['status']}: the run was resumed without "
            "it (a task token used by hand?); nothing was changed"
        )
    people = persons(tuple(state["approvers"]), policy.people, policy.people_by_session)
    if people < policy.required:
        raise ApprovalNotGranted(
            f"approval {state['approval_id']}: approved by {people} person(s) of "
            f"{policy.required}; nothing was changed"
        )
    return str(state["plan_hash"])


def default_approvals() -> Approvals:
    """The approvals of the stack this function belongs to (its ledger table)."""
    import boto3

    from v6migrate import aws

    config = aws.retries()
    return Approvals(
        boto3.client("dynamodb", config=config), aws.settings().ledger_table,
        boto3.client("stepfunctions", config=config),
    )  # fmt: skip


# ----------------------------------------------------------------------------- the function


def _where(summary: PlanSummary, wave_id: str | None) -> dict[str, Any]:
    return {
        "migration_id": summary.migration_id, "wave_id": wave_id,
        "account_id": summary.account_id, "region": summary.region,
        "cluster": summary.cluster, "stage": "approval",
    }  # fmt: skip


def ask(request: ApprovalRequest, approvals: Approvals, ledger: Any, events: Any) -> str:
    """Open an approval for the stored plan and announce it (its id, never the token)."""
    from v6migrate.events import ApprovalRequestedDetail

    hashed = request.plan_hash or plan_hash(ledger.plan(request.migration_id))
    approval_id = approvals.open(request, hashed)
    ledger.note(
        request.migration_id, "approval",
        {"approval_id": approval_id, "plan_hash": hashed, "status": "pending"},
    )  # fmt: skip
    summary = request.summary
    detail = ApprovalRequestedDetail(
        **_where(summary, request.wave_id),
        approval_id=approval_id,
        counts=summary.counts,
        changes=tuple(line.text for line in summary.changes[:SHOWN_CHANGES]),
        omitted_changes=max(0, len(summary.changes) - SHOWN_CHANGES) + summary.omitted_changes,
        approvers=request.policy.approvers,
        required=request.policy.required,
        expires_at=int(time.time()) + request.policy.timeout_seconds,
        changed=request.changed,
        warnings=tuple(w.message for w in summary.warnings),
    )
    put_event(events, "Approval Requested", detail)
    return approval_id


# Changes listed in the Approval Requested event (chat shows these; the ledger has them all)
SHOWN_CHANGES = 20


def settle(
    decision: Decision, approvals: Approvals, ledger: Any, events: Any, sts_endpoint: str
) -> Outcome:
    """Take one decision: who decides (their proof, checked by STS), recorded, announced."""
    from v6migrate import identity

    caller = identity.prove(
        decision.proof, f"{decision.approval_id}:{decision.decision}", sts_endpoint
    )
    return record(
        decision.approval_id, caller, decision.decision, decision.reason, approvals, ledger,
        events,
    )  # fmt: skip


def record(
    approval_id: str, caller: str, decision: Literal["approve", "reject"], reason: str,
    approvals: Approvals, ledger: Any, events: Any,
) -> Outcome:  # fmt: skip
    """The decision of a caller whose identity AWS has established (STS for a proof, API
    Gateway's IAM authorisation for the API): taken once, noted in the ledger, announced."""
    from v6migrate.events import ApprovalDecidedDetail

    outcome = approvals.decide(approval_id, caller, decision)
    ledger.note(
        outcome.migration_id, f"approval#{outcome.approval_id}#{caller}",
        {"decision": decision, "decided_by": caller, "status": outcome.status,
         "approvers": list(outcome.approvers), "reason": reason},
    )  # fmt: skip
    detail = ApprovalDecidedDetail(
        **outcome.where, approval_id=outcome.approval_id, decision=decision,
        decided_by=caller, status=outcome.status, approvers=outcome.approvers,
    )  # fmt: skip
    put_event(events, "Approval Decided", detail)
    return outcome
