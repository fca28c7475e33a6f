"""The platform's approval policy (issue 26, item 1): the requester cannot write it; a request
may only tighten it. Each attack is the request a careless or hostile requester would send."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from v6migrate import aws
from v6migrate.errors import InputError
from v6migrate.models import ApprovalPolicy
from v6migrate.policy import PlatformPolicy, PolicyRefused, effective, effective_across
from v6migrate.policy import platform_policy as READ_POLICY  # before any test stands in for it

ACCOUNT = "222222222222"
LEADS = "arn:aws:iam::111111111111:role/platform-leads"
SRE = "arn:aws:iam::111111111111:role/sre"
EVE = "arn:aws:sts::111111111111:assumed-role/intern/eve"
GLASS = "arn:aws:iam::111111111111:role/break-glass"
STRICT = PlatformPolicy.model_validate({
    "default": {"approvers": [LEADS, SRE], "required": 1},
    "accounts": {"333333333333": {"allow_without_approval": True}},
    "break_glass": [GLASS],
})  # fmt: skip


def _asked(**fields: Any) -> ApprovalPolicy:
    return ApprovalPolicy(**{"requested_by": EVE, **fields})


@pytest.mark.parametrize(
    ("asked", "why"),
    [
        # eve, on no allow-list, asks for no approval at all
        ({"mode": "none"}, "requires approval for account 222222222222"),
        # ... or names herself as approver and allows self-approval
        ({"approvers": [EVE], "allow_self_approval": True}, "does not allow self-approval"),
        # ... or names a friend the platform never listed
        ({"approvers": ["arn:aws:iam::111111111111:role/intern"]}, "is not an approver of"),
    ],
    ids=["no-approval", "self-approval", "own-approver"],
)
def test_a_request_cannot_loosen_the_platforms_policy(asked: dict[str, Any], why: str) -> None:
    with pytest.raises(PolicyRefused, match=why):
        effective(STRICT, _asked(**asked), ACCOUNT)


def test_a_request_may_tighten_it_and_gets_the_platforms_approvers_by_default() -> None:
    # Given nothing asked, the platform's approvers and count
    default = effective(STRICT, _asked(), ACCOUNT)
    assert (default.approvers, default.required, default.mode) == ((LEADS, SRE), 1, "required")
    # When the request names fewer of them and more approvals, Then it gets that
    tighter = effective(STRICT, _asked(approvers=[LEADS], required=2), ACCOUNT)
    assert (tighter.approvers, tighter.required) == ((LEADS,), 2)
    # but never fewer approvals than the platform's
    platform_two = STRICT.model_copy(update={"default": STRICT.default.model_copy(
        update={"required": 2})})  # fmt: skip
    assert effective(platform_two, _asked(required=1), ACCOUNT).required == 2


def test_only_the_platform_says_whose_sessions_are_people() -> None:
    # Attack: a request naming its own role, so that its sessions count as several approvers
    own = "arn:aws:iam::111111111111:role/ops"
    sso = "arn:aws:iam::*:role/AWSReservedSSO_Platform_*"
    asked = ApprovalPolicy(approvers=(own,), people_by_session=(own,))
    platform = PlatformPolicy.model_validate(
        {"default": {"approvers": [own]}, "people_by_session": [sso]}
    )
    # Then the run goes by the platform's roles, not the request's
    assert effective(platform, asked, "111111111111").people_by_session == (sso,)
    assert effective(PlatformPolicy.model_validate({"default": {"approvers": [own]}}),
                     asked, "111111111111").people_by_session == ()  # fmt: skip


def test_an_account_rule_the_platform_set_may_allow_runs_without_approval() -> None:
    allowed = effective(STRICT, _asked(mode="none"), "333333333333")
    assert (allowed.mode, allowed.break_glass) == ("none", False)


def test_a_break_glass_principal_may_go_without_approval_and_is_marked() -> None:
    policy = effective(STRICT, _asked(mode="none", requested_by=GLASS), ACCOUNT)
    assert (policy.mode, policy.break_glass) == ("none", True)
    # a session of the break-glass role is that role
    session = "arn:aws:sts::111111111111:assumed-role/break-glass/oncall"
    assert effective(STRICT, _asked(mode="none", requested_by=session), ACCOUNT).break_glass
    # and a request cannot mark itself break-glass to look like one
    assert not effective(STRICT, _asked(break_glass=True), ACCOUNT).break_glass


@pytest.fixture
def policy_parameter(moto: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from v6migrate import policy

    # not the sandbox stand-in of the unit tests' conftest: the parameter, read for real
    monkeypatch.setattr(policy, "platform_policy", READ_POLICY)
    name = "/v6migrate/v6migrate/approval-policy"
    monkeypatch.setenv("V6MIGRATE_APPROVAL_POLICY_PARAMETER", name)
    aws.settings.cache_clear()
    yield name
    aws.settings.cache_clear()


def test_without_a_policy_parameter_every_apply_run_needs_an_approver_nobody_is(
    policy_parameter: str,
) -> None:
    found = READ_POLICY()
    assert found == PlatformPolicy()
    with pytest.raises(PolicyRefused):
        effective(found, _asked(mode="none"), ACCOUNT)
    assert effective(found, _asked(), ACCOUNT).persons() == 0  # preflight blocks on it


def test_the_policy_is_read_from_its_parameter_and_a_bad_one_is_named(
    policy_parameter: str,
) -> None:
    ssm = boto3.client("ssm", region_name="eu-west-1")
    ssm.put_parameter(Name=policy_parameter, Type="String", Value=STRICT.model_dump_json())
    assert READ_POLICY() == STRICT
    bad = json.dumps({"default": {"required": 9}})
    ssm.put_parameter(Name=policy_parameter, Type="String", Value=bad, Overwrite=True)
    with pytest.raises(InputError, match=f"{policy_parameter}: not a valid approval policy"):
        READ_POLICY()


def test_a_wave_across_accounts_gets_what_every_accounts_rule_allows() -> None:
    two = STRICT.model_copy(update={"accounts": {
        "333333333333": STRICT.default.model_copy(update={"required": 2})}})  # fmt: skip
    across = effective_across(two, _asked(), [ACCOUNT, "333333333333"])
    assert (across.approvers, across.required) == ((LEADS, SRE), 2)
    # mode none must be allowed in every account it reaches
    with pytest.raises(PolicyRefused, match="requires approval for account 222222222222"):
        effective_across(STRICT, _asked(mode="none"), [ACCOUNT, "333333333333"])
    # rules with other approvers: the wave must name ones every rule allows
    other = STRICT.model_copy(update={"accounts": {
        "333333333333": STRICT.default.model_copy(update={"approvers": (LEADS,)})}})  # fmt: skip
    with pytest.raises(PolicyRefused, match="different approvers"):
        effective_across(other, _asked(), [ACCOUNT, "333333333333"])
    assert effective_across(other, _asked(approvers=[LEADS]), [ACCOUNT, "333333333333"]).approvers


def test_a_scope_gives_its_principals_its_accounts_only() -> None:
    from v6migrate.policy import OutOfScope, authorise

    scoped = PlatformPolicy.model_validate({"scopes": [
        {"principals": ["arn:aws:iam::111111111111:role/intern"], "accounts": [ACCOUNT]},
        {"principals": [LEADS], "accounts": ["*"]},
    ]})  # fmt: skip
    authorise(scoped, EVE, ACCOUNT, "plan")  # a session of the scoped role
    with pytest.raises(OutOfScope, match="may not plan account 333333333333"):
        authorise(scoped, EVE, "333333333333", "plan")
    authorise(scoped, "arn:aws:sts::111111111111:assumed-role/platform-leads/x", "4" * 12, "plan")
    with pytest.raises(OutOfScope):
        authorise(PlatformPolicy(), LEADS, ACCOUNT, "plan")  # no scopes: nobody
