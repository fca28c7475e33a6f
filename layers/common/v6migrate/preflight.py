"""The Preflight step: discover the estate around one cluster and plan every change. Reads only."""

from __future__ import annotations

from typing import Annotated, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from v6migrate import aws, kube
from v6migrate.changes import Context
from v6migrate.discover import discover
from v6migrate.journal import Ledger
from v6migrate.models import (
    ExecutionName,
    Finding,
    Frozen,
    MigrationRequest,
    Plan,
    PlanSummary,
)
from v6migrate.observability import logger, metrics
from v6migrate.plan import plan
from v6migrate.render import change_line


class Pacing(Frozen):
    """The stack's poll settings (WaitSeconds, MaxPolls), as the state machine has them."""

    poll_seconds: int = Field(ge=1)
    max_polls: int = Field(ge=1)


class PreflightInput(Frozen):
    """What the state machine passes to the Preflight function."""

    request: MigrationRequest
    migration_id: Annotated[ExecutionName, Field(description="the execution name")]
    replan: bool = Field(
        default=False,
        description="After the approval, just before the first change: plan again against the "
        "stored (approved) plan, and store the new one if it differs.",
    )
    pacing: Pacing | None = None


# How long one node takes to be replaced, drained and Ready again, with margin: a managed node
# group's update scales up, waits for the new nodes, then drains the old ones (EKS user guide,
# "Managed node update behavior"); an estimate, so generous
NODE_SECONDS = 600


def node_poll_seconds(nodes: int, concurrency: int, pacing: Pacing) -> int:
    """The wait between two polls of the node rollout: the stack's, or longer when the nodes'
    work (the groups rolled `concurrency` at a time, a node's time each) needs more than the
    capped polls of it. The cap keeps the execution's history below its quota; the wait grows
    with the cluster instead."""
    needed = -(-nodes // max(concurrency, 1)) * NODE_SECONDS
    return max(pacing.poll_seconds, -(-needed // pacing.max_polls))


def make_plan(
    request: MigrationRequest,
    clients: aws.Clients | None = None,
    ledger: Ledger | None = None,
    migration_id: str = "dry-run",
) -> Plan:
    """Discover and plan. With a `ledger` (an apply run), preflight also proves that the run
    can use the cluster's Kubernetes API, through a temporary access entry journaled there; a
    dry run reads the API only if its caller already has access, and changes nothing."""
    # a dry run (no ledger) reads only: through the target account's read-only role
    clients = clients or aws.target_clients(
        request.account_id, request.region, migration_id, read_only=ledger is None
    )
    inventory = discover(clients, request.cluster)
    cluster = inventory.cluster
    if cluster.authentication_mode != "CONFIG_MAP" and cluster.endpoint_public_access:
        ctx = Context(clients=clients, inventory=inventory, migration_id=migration_id)
        if ledger is None:
            facts = kube.read_facts(ctx, may_create=False)
        else:
            earlier = ledger.read_note(migration_id, "access")

            def record(status: str, principal: str) -> None:
                ledger.note(migration_id, "access", {"status": status, "principal": principal})

            facts = kube.read_facts(
                ctx, may_create=True, record=record,
                ours_before=earlier is not None and earlier.get("status") == "intent",
            )  # fmt: skip
        inventory = inventory.model_copy(update={"kubernetes": facts})
    logger.info(
        "estate discovered",
        extra={
            "cluster": request.cluster,
            "account_id": clients.account_id,
            "vpc_id": inventory.vpc.vpc_id,
            "resources": inventory.resource_count,
        },
    )
    return plan(inventory, request.options)


# Step Functions passes at most 256 KB between states: a large estate's plan lists
# hundreds of changes, so the summary carries the first ones and a count of the rest.
SUMMARY_CHANGES = 250


def summarise(
    result: Plan, request: MigrationRequest, migration_id: str, limit: int | None = SUMMARY_CHANGES
) -> PlanSummary:
    return PlanSummary(
        migration_id=migration_id,
        approval=request.approval,
        cluster=result.cluster,
        account_id=result.account_id,
        region=result.region,
        mode=request.mode,
        blocked=result.blocked,
        blockers=result.blockers,
        warnings=result.warnings,
        counts=result.counts(),
        changes=tuple(change_line(change) for change in result.changes[:limit]),
        omitted_changes=max(0, len(result.changes) - limit) if limit is not None else 0,
    )


def _under_platform_policy(
    request: MigrationRequest, account_id: str
) -> tuple[MigrationRequest, Finding | None]:
    """The request with the approval policy the platform's allows it (`policy.effective`), or
    as it is with the blocker that says why not. A dry run asks for no approval."""
    from v6migrate.policy import PolicyRefused, effective, platform_policy

    if request.mode != "apply":
        return request, None
    try:
        policy = effective(platform_policy(), request.approval, account_id)
    except PolicyRefused as refused:
        return request, Finding(code="approval-policy", severity="blocker", message=str(refused))
    return request.model_copy(update={"approval": policy}), None


def run(
    event: PreflightInput,
    clients: aws.Clients | None = None,
    ledger: Ledger | None = None,
    events: Any = None,
) -> PlanSummary:
    if event.request.mode == "apply":
        from v6migrate.apply import default_ledger

        ledger = ledger or default_ledger()
    result = make_plan(
        event.request, clients, ledger if event.request.mode == "apply" else None,
        event.migration_id,
    )  # fmt: skip
    request, refused = _under_platform_policy(event.request, result.account_id)
    if refused is not None:
        result = result.model_copy(update={"findings": (*result.findings, refused)})
    policy = request.approval
    named = policy.persons()
    if request.mode == "apply" and policy.mode == "required" and named < policy.required:
        # Nobody could approve: say so now, before the lock and the wait, not a day later
        blocker = Finding(
            code="approval-without-approvers", severity="blocker",
            message=f"the run needs {policy.required} approver(s) and has {named} "
            "(identities `people` ties to one person count once): "
            "list them in the platform's approval policy (the stack's ApprovalPolicy), or "
            "fewer of them in approval.approvers",
        )  # fmt: skip
        result = result.model_copy(update={"findings": (*result.findings, blocker)})
    summary = summarise(result, request, event.migration_id)
    from v6migrate.approval import granted, plan_hash, what_changed

    summary = summary.model_copy(update={"plan_hash": plan_hash(result)})
    if event.pacing is not None:
        paced = node_poll_seconds(result.nodes_to_roll, request.options.node_concurrency,
                                  event.pacing)  # fmt: skip
        summary = summary.model_copy(update={"node_poll_seconds": paced})
    if event.replan and request.mode == "apply" and not result.blocked:
        assert ledger is not None
        # The callback that resumed the run proves nothing (its token is in the execution's
        # history): the approval record must say approved, by enough people, for a plan
        approved_hash = granted(ledger, event.migration_id, policy)
        approved = ledger.plan(event.migration_id)
        if plan_hash(approved) != summary.plan_hash:
            ledger.replace_plan(event.migration_id, result)
            summary = summary.model_copy(update={"changed": tuple(what_changed(approved, result))})
        return summary.model_copy(update={"approved_plan_hash": approved_hash})
    if event.request.mode == "apply" and not result.blocked:
        # The approved plan is what the stages apply; the lock keeps a second run away.
        assert ledger is not None
        ledger.acquire(result.account_id, result.region, result.cluster, event.migration_id)
        try:
            ledger.save_plan(event.migration_id, result)
        except Exception:
            # No plan, no run: do not leave the cluster locked by a migration that cannot go on.
            ledger.release(result.account_id, result.region, result.cluster, event.migration_id)
            raise
        metrics.add_metric(name="MigrationsStarted", unit=MetricUnit.Count, value=1)
        if policy.break_glass:
            _announce_break_glass(summary, request, events)
    metrics.add_metric(name="PlansMade", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="PlannedChanges", unit=MetricUnit.Count, value=len(result.changes))
    logger.info(
        "plan made",
        extra={
            "blocked": summary.blocked,
            "counts": summary.counts,
            "findings": len(result.findings),
        },
    )
    return summary


def _announce_break_glass(summary: PlanSummary, request: MigrationRequest, events: Any) -> None:
    """A run that goes without approval, or with its requester's own, only because its
    requester is a break-glass principal: said loudly before any change (an event of its own,
    a metric the stack's alarm watches, a warning in the log)."""
    from v6migrate.events import BreakGlassRunDetail, put

    policy = request.approval
    mode = "none" if policy.mode == "none" else "self-approval"
    metrics.add_metric(name="BreakGlassRuns", unit=MetricUnit.Count, value=1)
    logger.warning("break-glass run", extra={"requested_by": policy.requested_by, "mode": mode})
    detail = BreakGlassRunDetail(
        migration_id=summary.migration_id, wave_id=request.wave_id,
        account_id=summary.account_id, region=summary.region, cluster=summary.cluster,
        stage="preflight", requested_by=policy.requested_by or "unknown", mode=mode,
        approvers=policy.approvers,
    )  # fmt: skip
    put(events or boto3.client("events", config=aws.retries()), "Break Glass Run", detail)
