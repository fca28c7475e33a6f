"""The Preflight step: discover the estate around one cluster and plan every change. Reads only."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from v6migrate import aws
from v6migrate.discover import discover
from v6migrate.journal import Ledger
from v6migrate.models import ExecutionName, Frozen, MigrationRequest, Plan, PlanSummary
from v6migrate.observability import logger, metrics
from v6migrate.plan import plan
from v6migrate.render import change_line


class PreflightInput(Frozen):
    """What the state machine passes to the Preflight function."""

    request: MigrationRequest
    migration_id: Annotated[ExecutionName, Field(description="the execution name")]


def make_plan(request: MigrationRequest, clients: aws.Clients | None = None) -> Plan:
    clients = clients or aws.target_clients(request.account_id, request.region)
    inventory = discover(clients, request.cluster)
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


def run(
    event: PreflightInput, clients: aws.Clients | None = None, ledger: Ledger | None = None
) -> PlanSummary:
    result = make_plan(event.request, clients)
    summary = summarise(result, event.request, event.migration_id)
    if event.request.mode == "apply" and not result.blocked:
        # The approved plan is what the stages apply; the lock keeps a second run away.
        from v6migrate.apply import default_ledger

        ledger = ledger or default_ledger()
        ledger.acquire(result.account_id, result.region, result.cluster, event.migration_id)
        try:
            ledger.save_plan(event.migration_id, result)
        except Exception:
            # No plan, no run: do not leave the cluster locked by a migration that cannot go on.
            ledger.release(result.account_id, result.region, result.cluster, event.migration_id)
            raise
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
