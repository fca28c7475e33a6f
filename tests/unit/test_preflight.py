"""Preflight stops a run that could not finish before its first change (issue 8): access to the
cluster's API, its endpoint, the CNI's version and configuration as the cluster has them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.seed import ESTATES, seed
from v6migrate import kube, preflight
from v6migrate.aws import Clients, target_clients
from v6migrate.changes import Context
from v6migrate.discover import discover
from v6migrate.journal import Ledger
from v6migrate.models import MigrationRequest, PlanOptions, PlanSummary

SMALL = ESTATES["small"]


def _seeded(**changes: Any) -> Clients:
    spec = SMALL.model_copy(update=changes)
    seed(spec)
    return target_clients(spec.account_id, spec.region)


def _preflight(
    clients: Clients, ledger: Ledger, mode: str = "apply", approval: Any = None,
    events: Any = None, **options: Any,
) -> PlanSummary:  # fmt: skip
    request = MigrationRequest(
        cluster=SMALL.cluster, account_id=SMALL.account_id, region=SMALL.region, mode=mode,
        options=PlanOptions(**options),
        approval={"mode": "none"} if approval is None else approval,
    )  # fmt: skip
    event = preflight.PreflightInput(request=request, migration_id="m-1")
    return preflight.run(event, clients, ledger, events)


def _codes(findings: tuple[Any, ...]) -> set[str]:
    return {f.code for f in findings}


def _no_trace(clients: Clients, ledger: Ledger) -> None:
    """Nothing left behind: no access entry, no lock."""
    assert clients.eks.list_access_entries(clusterName=SMALL.cluster)["accessEntries"] == []
    assert ledger.holder(SMALL.account_id, SMALL.region, SMALL.cluster) is None


def test_a_config_map_cluster_is_blocked_with_the_command_that_fixes_it(
    moto: None, ledger: Ledger
) -> None:
    clients = _seeded(authentication_mode="CONFIG_MAP")
    summary = _preflight(clients, ledger)
    [blocker] = [b for b in summary.blockers if b.code == "cluster-config-map-auth"]
    assert "authenticationMode=API_AND_CONFIG_MAP" in blocker.message
    _no_trace(clients, ledger)


def test_a_private_only_endpoint_is_blocked(moto: None, ledger: Ledger) -> None:
    clients = _seeded(endpoint_public_access=False)
    assert "cluster-endpoint-private" in _codes(_preflight(clients, ledger).blockers)
    _no_trace(clients, ledger)


def test_public_access_cidrs_without_the_functions_warn_in_a_dry_run_and_block_the_run(
    moto: None, ledger: Ledger
) -> None:
    clients = _seeded(public_access_cidrs=("192.0.2.0/24",))
    # A dry run changes nothing, so it cannot prove access: it says what the run will check
    dry = _preflight(clients, ledger, mode="plan")
    assert "cluster-endpoint-cidrs" in _codes(dry.warnings)
    assert not dry.blocked
    # The run proves access with one authorised read before any change, and stops
    summary = _preflight(clients, ledger)
    assert "kubernetes-unreachable" in _codes(summary.blockers)
    _no_trace(clients, ledger)
    assert ledger.read_note("m-1", "access")["status"] == "removed"  # type: ignore[index]


@pytest.mark.parametrize(("version", "blocked"), [("v1.15.0", True), ("v1.16.3", False)])
def test_a_self_managed_cni_below_1_16_3_is_read_from_the_cluster_and_blocked(
    moto: None, ledger: Ledger, version: str, blocked: bool
) -> None:
    # DOMAIN.md, VPC CNI: before v1.16.3 aws-node exits on every node without IPv6 once
    # ENABLE_V6_EGRESS is on. A self-managed CNI has no add-on: its version is aws-node's image.
    clients = _seeded(cni_addon=False, cni_version=version)
    assert "cni-version-unknown" in _codes(_preflight(clients, ledger, mode="plan").warnings)
    summary = _preflight(clients, ledger)
    assert ("cni-below-1.16.3" in _codes(summary.blockers)) is blocked
    assert "cni-version-unknown" not in _codes(summary.warnings)
    assert clients.eks.list_access_entries(clusterName=SMALL.cluster)["accessEntries"] == []


def _set_out_of_band(clients: Clients, value: str) -> None:
    """An operator's `kubectl set env daemonset/aws-node ENABLE_V6_EGRESS=...`."""
    ctx = Context(clients=clients, inventory=discover(clients, SMALL.cluster), migration_id="op")
    with kube.access(ctx, ("kube-system",)):
        kube.connect(ctx)._patch_env({"aws-node": {"ENABLE_V6_EGRESS": value}})


def test_a_flag_set_outside_the_add_on_blocks_a_preserve_update(moto: None, ledger: Ledger) -> None:
    clients = _seeded()
    _set_out_of_band(clients, "false")
    summary = _preflight(clients, ledger)
    [blocker] = [b for b in summary.blockers if b.code == "cni-flag-set-out-of-band"]
    assert "aws-node=false" in blocker.message
    assert "OVERWRITE" in blocker.message
    _no_trace(clients, ledger)
    # OVERWRITE replaces it: a warning says what else it resets
    overwrite = _preflight(clients, ledger, resolve_conflicts="OVERWRITE")
    assert "cni-flag-set-out-of-band" in _codes(overwrite.warnings)
    assert not overwrite.blocked


@pytest.mark.parametrize("others", [0, 100])
def test_an_access_entry_the_workflows_role_had_before_the_run_is_kept(
    moto: None, ledger: Ledger, others: int
) -> None:
    # Given a platform team that gave the workflow's role an access entry of its own (EKS user
    # guide, access entries), with a policy the run's checks can use; and, in the second case,
    # a hundred other teams' entries listed before it, so that ListAccessEntries, which answers
    # at most 100 a page (EKS API reference, maxResults), names it on the second page only
    clients = _seeded()
    caller = clients.sts.get_caller_identity()["Arn"]
    who = kube.role_arn(str(caller), clients.iam)
    for n in range(others):
        team = clients.iam.create_role(RoleName=f"a-team-{n:03d}", AssumeRolePolicyDocument="{}")
        clients.eks.create_access_entry(clusterName=SMALL.cluster, principalArn=team["Role"]["Arn"])
    clients.eks.create_access_entry(clusterName=SMALL.cluster, principalArn=who)
    view = f"arn:aws:eks::aws:cluster-access-policy/{kube.VIEW_POLICY}"
    clients.eks.associate_access_policy(
        clusterName=SMALL.cluster, principalArn=who, policyArn=view, accessScope={"type": "cluster"}
    )
    # When preflight reads aws-node through the cluster's API (apply mode)
    summary = _preflight(clients, ledger)
    # Then it used that entry and left it in place
    assert "kubernetes-unreachable" not in _codes(summary.blockers)
    listed = clients.eks.get_paginator("list_access_entries").paginate(clusterName=SMALL.cluster)
    entries = [e for page in listed for e in page["accessEntries"]]
    assert who in entries
    assert len(entries) == others + 1


ALICE_SESSION = "arn:aws:sts::123456789012:assumed-role/ops/alice"


@pytest.mark.parametrize(
    ("approval", "blocked"),
    [
        ({}, True),  # approval required (the default) and nobody named
        ({"approvers": ["arn:aws:iam::123456789012:role/ops"], "required": 2}, True),
        ({"approvers": ["arn:aws:iam::123456789012:role/ops"]}, False),
        ({"mode": "none"}, False),
        # two identities that `people` says are one person cannot give two approvals
        (
            {
                "approvers": [ALICE_SESSION, "slack:T0V6MIGR8/U0ALICE"],
                "required": 2,
                "people": [[ALICE_SESSION, "slack:T0V6MIGR8/U0ALICE"]],
            },
            True,
        ),
        ({"approvers": [ALICE_SESSION, "slack:T0V6MIGR8/U0ALICE"], "required": 2}, False),
    ],
)
def test_an_apply_request_that_nobody_could_approve_is_blocked_before_anything(
    target: Clients, ledger: Ledger, approval: dict[str, Any], blocked: bool
) -> None:
    summary = _preflight(target, ledger, approval=approval)
    assert ("approval-without-approvers" in _codes(summary.blockers)) is blocked
    # And a blocked request takes no lock
    assert (ledger.holder(SMALL.account_id, SMALL.region, SMALL.cluster) is None) is blocked


def test_a_break_glass_run_goes_without_approval_and_is_counted(
    target: Clients, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from v6migrate import observability, policy

    glass = "arn:aws:iam::123456789012:role/break-glass"
    strict = policy.PlatformPolicy.model_validate({"break_glass": [glass]})
    monkeypatch.setattr(policy, "platform_policy", lambda ssm=None: strict)
    # Given a requester on no list asking for no approval: blocked by the platform's policy
    refused = _preflight(target, ledger, approval={"mode": "none", "requested_by": ALICE_SESSION})
    assert "approval-policy" in _codes(refused.blockers)
    # When a break-glass principal asks the same, Then the run goes without approval, marked
    # and counted for the alarm
    observability.metrics.clear_metrics()
    bus = _Bus()
    summary = _preflight(target, ledger, approval={"mode": "none", "requested_by": glass},
                         events=bus)  # fmt: skip
    assert not summary.blocked, summary.blockers
    assert (summary.approval.mode, summary.approval.break_glass) == ("none", True)
    assert "BreakGlassRuns" in observability.metrics.provider.metric_set
    # and announced on the bus, as an event of its own naming who and how
    (entry,) = bus.entries
    detail = json.loads(entry["Detail"])
    assert entry["DetailType"] == "Break Glass Run"
    assert (detail["requested_by"], detail["mode"], detail["cluster"]) == (
        glass, "none", SMALL.cluster,
    )  # fmt: skip


class _Bus:
    """An EventBridge client that keeps what it is sent (the bus itself: the integration's)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "1"} for _ in Entries]}


def test_the_node_rollouts_wait_grows_with_the_nodes_its_capped_polls_must_cover() -> None:
    """Issue 27, item 2: the polls stay capped (the execution's history), so a cluster whose
    nodes need longer than MaxPolls x WaitSeconds gets a longer wait between polls instead of
    a rollout that fails PollLimitExceeded half done."""
    pacing = preflight.Pacing(poll_seconds=60, max_polls=240)
    assert preflight.node_poll_seconds(3, 2, pacing) == 60  # 2 x 10 min: well within 4 hours
    # 200 nodes, two groups at a time: 100 x 10 minutes, 60,000 s over 240 polls
    assert preflight.node_poll_seconds(200, 2, pacing) == 250
    assert preflight.node_poll_seconds(0, 1, pacing) == 60


def test_preflight_says_how_long_to_wait_between_the_node_rollouts_polls(
    moto: None, ledger: Ledger
) -> None:
    clients = _seeded()
    request = MigrationRequest(
        cluster=SMALL.cluster, account_id=SMALL.account_id, region=SMALL.region, mode="apply",
        approval={"mode": "none"},
    )  # fmt: skip
    tight = preflight.Pacing(poll_seconds=1, max_polls=1)  # one poll: the nodes set the wait
    event = preflight.PreflightInput(request=request, migration_id="m-1", pacing=tight)
    summary = preflight.run(event, clients, ledger)
    plan = ledger.plan("m-1")
    assert plan.nodes_to_roll == len(discover(clients, SMALL.cluster).nodes) > 0
    concurrency = request.options.node_concurrency
    assert summary.node_poll_seconds == preflight.node_poll_seconds(
        plan.nodes_to_roll, concurrency, tight
    ) >= preflight.NODE_SECONDS  # fmt: skip
    # without the stack's pacing (the CLI's plan), none is said
    assert _preflight(clients, ledger, mode="plan").node_poll_seconds is None
