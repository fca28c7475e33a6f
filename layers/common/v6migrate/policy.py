"""The platform's approval policy (issue 26, item 1): who must approve an apply run, how many,
and whether a run may go without approval, set by whoever deploys the stack (its
SSM parameter `/v6migrate/<stack>/approval-policy`, which requesters may not write), never
by the requester. A request may only tighten it: fewer of the platform's approvers, more
approvals, a
shorter wait. `mode: none` and self-approval are refused unless the platform's rule for the
account allows them, or the requester is one of the policy's break-glass principals, whose runs
are announced.

`effective` is pure: the API refuses with its reason before anything starts (403), and
preflight applies the same function inside the workflow, so a run started any other way (the
CLI, the console, a schedule) meets the same policy.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import boto3
from botocore.exceptions import ClientError
from pydantic import Field, ValidationError

from v6migrate.errors import InputError
from v6migrate.errors import translate as aws_error
from v6migrate.models import (
    AccountId,
    ApprovalPolicy,
    ChatUser,
    EntraUser,
    Frozen,
    PrincipalArn,
    SessionRole,
)

Identity = PrincipalArn | ChatUser | EntraUser
# A policy names at most this many approvers a rule (Step Functions passes the policy between
# states, and a chat message lists them)
MAX_APPROVERS = 20


class Rule(Frozen):
    """How runs on an account are approved."""

    approvers: Annotated[tuple[Identity, ...], Field(max_length=MAX_APPROVERS)] = Field(
        default=(),
        description="Who may approve (a role: any session of it; one person a role, see "
        "`approval.py`). Empty: no apply run can be approved.",
    )
    required: int = Field(default=1, ge=1, le=3, description="Distinct people needed at least.")
    allow_self_approval: bool = Field(
        default=False, description="Whether a requester may approve their own run."
    )
    allow_without_approval: bool = Field(
        default=False, description="Whether a request may ask for `approval.mode: none`."
    )
    approvers_from_request: bool = Field(
        default=False,
        description="Whether a request may name approvers outside `approvers` (a sandbox "
        "account's rule: the requester then chooses who approves).",
    )


class Scope(Frozen):
    """Who may plan, start and read runs on which accounts (through the API)."""

    principals: Annotated[tuple[PrincipalArn | Literal["*"], ...], Field(min_length=1)] = Field(
        description="IAM roles or users (a role: any session of it); `*`: every caller."
    )
    accounts: Annotated[tuple[AccountId | Literal["*"], ...], Field(min_length=1)] = Field(
        description="The accounts they may act on; `*`: every one."
    )


class PlatformPolicy(Frozen):
    """The whole policy: a default rule, a rule per account, the break-glass principals, and
    who may act on which accounts."""

    default: Rule = Rule()
    accounts: dict[AccountId, Rule] = Field(default_factory=dict, max_length=1000)
    break_glass: Annotated[tuple[PrincipalArn, ...], Field(max_length=10)] = Field(
        default=(),
        description="Who may start a run without approval (or approve their own) anywhere: "
        "each such run is announced as a break-glass run.",
    )
    people: tuple[tuple[Identity, ...], ...] = Field(
        default=(), max_length=100, description="Identities that are one person."
    )
    people_by_session: tuple[SessionRole, ...] = Field(
        default=(), max_length=20,
        description="Roles whose sessions an identity source names, so that each session is a "
        "person of its own (IAM Identity Center's permission set roles, `AWSReservedSSO_*`; a "
        "federated role whose trust policy fixes `sts:RoleSessionName` to the IdP's user). "
        "Any other role is one approver whatever its sessions: whoever may assume it names "
        "the session.",
    )  # fmt: skip
    scopes: tuple[Scope, ...] = Field(
        default=(), max_length=100,
        description="Who may plan, start and read runs on which accounts through the API; "
        "none: nobody.",
    )  # fmt: skip


class PolicyRefusedBase(InputError):
    """Something the platform's policy does not allow (the API answers 403)."""


class PolicyRefused(PolicyRefusedBase):
    """A request the platform's approval policy does not allow (the API answers 403)."""


class OutOfScope(PolicyRefusedBase):
    """A caller acting on an account the platform's policy does not give them (403)."""


def authorise(platform: PlatformPolicy, caller: str, account_id: str, action: str) -> None:
    """Refuse `caller` acting on `account_id` unless a scope of the platform's gives it them."""
    from v6migrate.approval import is_approver

    for scope in platform.scopes:
        named = "*" in scope.principals or is_approver(
            caller, tuple(p for p in scope.principals if p != "*")
        )
        if named and ("*" in scope.accounts or account_id in scope.accounts):
            return
    raise OutOfScope(
        f"{caller} may not {action} account {account_id}: no scope of the platform's approval "
        "policy gives it them"
    )


def platform_policy(ssm: Any = None) -> PlatformPolicy:
    """The stack's policy, read from its SSM parameter (`approval_policy_parameter`, JSON) on
    every call, so a change holds from the next run on. No parameter: the strictest policy
    (every apply run needs one approver and none is named, so none can go)."""
    from v6migrate import aws

    name = aws.settings().approval_policy_parameter
    if not name:
        return PlatformPolicy()
    ssm = ssm or boto3.client("ssm", config=aws.retries())
    try:
        text = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return PlatformPolicy()
        raise aws_error(error, "ssm:GetParameter approval policy") from error
    try:
        return PlatformPolicy.model_validate_json(text)
    except ValidationError as error:
        first = error.errors()[0]
        raise InputError(
            f"{name}: not a valid approval policy: {first['msg']} at "
            f"{'.'.join(str(p) for p in first['loc']) or 'the top'}"
        ) from error


def effective(
    platform: PlatformPolicy, requested: ApprovalPolicy, account_id: str
) -> ApprovalPolicy:
    """The approval policy a run on `account_id` goes by: the platform's rule, tightened by the
    request; `PolicyRefused` says why a request would loosen it."""
    from v6migrate.approval import is_approver

    rule = platform.accounts.get(account_id, platform.default)
    requester = requested.requested_by
    break_glass = requester is not None and is_approver(requester, platform.break_glass)
    where = f"account {account_id}"
    if requested.mode == "none":
        if not (rule.allow_without_approval or break_glass):
            raise PolicyRefused(
                f"approval.mode none: the platform's approval policy requires approval for "
                f"{where}; only its break-glass principals may start a run without it"
            )
        return _policy(requested, break_glass=not rule.allow_without_approval,
                       people_by_session=platform.people_by_session)  # fmt: skip
    if requested.allow_self_approval and not (rule.allow_self_approval or break_glass):
        raise PolicyRefused(
            f"approval.allow_self_approval: the platform's approval policy does not allow "
            f"self-approval for {where}"
        )
    outside = [a for a in requested.approvers
               if not (rule.approvers_from_request or is_approver(a, rule.approvers))]  # fmt: skip
    if outside:
        raise PolicyRefused(
            f"approval.approvers: {outside[0]} is not an approver of {where} in the platform's "
            "approval policy (a request may name fewer of its approvers, not others)"
        )
    return _policy(
        requested,
        approvers=requested.approvers or rule.approvers,
        required=max(rule.required, requested.required),
        people=(*platform.people, *(p for p in requested.people if p not in platform.people)),
        # the platform's alone: a request that named its own role would count its sessions
        people_by_session=platform.people_by_session,
        break_glass=requested.allow_self_approval and not rule.allow_self_approval,
    )


def effective_across(
    platform: PlatformPolicy, requested: ApprovalPolicy, accounts: list[str]
) -> ApprovalPolicy:
    """One approval for runs on several accounts (a wave's): what every account's rule allows,
    the most approvals any asks for. Rules naming other approvers need a request that names
    approvers every one of them allows."""
    found = [effective(platform, requested, account) for account in accounts]
    if not found:
        return effective(platform, requested, "")
    if len({policy.approvers for policy in found}) > 1:
        raise PolicyRefused(
            "approval.approvers: the accounts' rules in the platform's approval policy name "
            "different approvers; name approvers that every one of them allows"
        )
    most = max(found, key=lambda policy: policy.required)
    return most.model_copy(update={"break_glass": any(p.break_glass for p in found)})


def _policy(requested: ApprovalPolicy, **update: object) -> ApprovalPolicy:
    try:
        return ApprovalPolicy.model_validate({**requested.model_dump(), **update})
    except ValidationError as error:
        raise PolicyRefused(f"approval: {error.errors()[0]['msg']}") from error
