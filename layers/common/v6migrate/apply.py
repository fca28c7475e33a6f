"""Apply one stage of the approved plan, journaled and re-runnable; and compensate.

A stage reads the approved plan from the ledger and the estate from AWS. The planner, run on
the fresh estate, is the oracle of what is still missing: an approved change it no longer lists
is already in effect (ours if journaled as `intent`, else `in-place` and never reverted).
Nothing outside the approved plan is touched. Consecutive changes of one kind are started
together and waited for together (one filtered describe per poll for the batch).
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any, Literal

import boto3

from v6migrate import aws
from v6migrate.changes import Context, handler_for
from v6migrate.discover import discover
from v6migrate.journal import Entry, Ledger
from v6migrate.models import (
    AssociateVpcIpv6Cidr,
    Change,
    ExecutionName,
    Frozen,
    Inventory,
    MigrationRequest,
    Stage,
)
from v6migrate.observability import logger
from v6migrate.plan import plan

# Compensation order (DOMAIN.md, Rollback): the reverse of the plan's order, stage by stage.
_REVERT_STAGES: tuple[Stage, ...] = ("nodes", "cni", "attachments", "vpc")


REPORTED_CHANGES = 100  # ids in a stage's report (the journal has them all)


class StageInput(Frozen):
    request: MigrationRequest
    migration_id: ExecutionName


class StageReport(Frozen):
    """What a stage did; `changes` lists the first ids it applied (the journal has all)."""

    stage: Stage
    applied: int
    already_applied: int
    found_in_place: int
    changes: tuple[str, ...]


class RollbackInput(Frozen):
    request: MigrationRequest
    migration_id: ExecutionName
    error: dict[str, Any] | None = None


class RollbackReport(Frozen):
    reverted: tuple[str, ...]
    kept: tuple[str, ...]
    untouched: int


@cache
def _dynamodb() -> Any:
    return boto3.client("dynamodb", config=aws.retries())


def default_ledger() -> Ledger:
    return Ledger(_dynamodb(), aws.settings().ledger_table)


def _context(clients: aws.Clients, inventory: Inventory, migration_id: str) -> Context:
    block = inventory.vpc.ipv6_block
    return Context(
        clients=clients,
        inventory=inventory,
        migration_id=migration_id,
        vpc_block=block.cidr if block else None,
        egress_gateway_id=inventory.egress_only_gateway_id,
    )


def _fresh(
    clients: aws.Clients, request: MigrationRequest, migration_id: str
) -> tuple[Context, set[str]]:
    """The estate read now, and the ids of the changes it still lacks (the planner's view)."""
    inventory = discover(clients, request.cluster)
    missing = {c.change_id for c in plan(inventory, request.options).changes}
    return _context(clients, inventory, migration_id), missing


def run_stage(
    stage: Stage,
    event: StageInput,
    clients: aws.Clients | None = None,
    ledger: Ledger | None = None,
) -> StageReport:
    request, migration_id = event.request, event.migration_id
    clients = clients or aws.target_clients(request.account_id, request.region)
    ledger = ledger or default_ledger()
    approved = ledger.plan(migration_id)
    order = {change.change_id: seq for seq, change in enumerate(approved.changes)}
    journal = {entry.seq: entry for entry in ledger.entries(migration_id)}
    ctx, missing = _fresh(clients, request, migration_id)

    todo: list[tuple[int, Change]] = []
    counts = {"applied": 0, "already": 0, "in-place": 0}
    for change in approved.stage_changes(stage):
        seq = order[change.change_id]
        entry = journal.get(seq)
        if entry is not None and entry.status in ("applied", "in-place"):
            counts["already"] += 1
            continue
        if change.change_id not in missing:
            # In effect already: ours if we journaled the intent (a crash after the call).
            status: Literal["applied", "in-place"] = (
                "applied" if entry is not None and entry.status == "intent" else "in-place"
            )
            ledger.record(migration_id, seq, change, status)
            counts["already" if status == "applied" else "in-place"] += 1
            continue
        todo.append((seq, change))

    for _, batch in itertools.groupby(todo, key=lambda item: item[1].action):
        group = list(batch)
        handler = handler_for(group[0][1])
        for seq, change in group:
            ledger.record(migration_id, seq, change, "intent", before=handler.before(change, ctx))
        results = [handler.start(change, ctx) for _, change in group]
        handler.wait([change for _, change in group], results, ctx)
        for (seq, change), result in zip(group, results, strict=True):
            ledger.record(migration_id, seq, change, "applied", result=result)
            counts["applied"] += 1
            logger.info("change applied", extra={"change_id": change.change_id, "result": result})
    report = StageReport(
        stage=stage,
        applied=counts["applied"],
        already_applied=counts["already"],
        found_in_place=counts["in-place"],
        changes=tuple(change.change_id for _, change in todo[:REPORTED_CHANGES]),
    )
    logger.info("stage applied", extra=report.model_dump())
    return report


def _ours(entry: Entry, missing: set[str]) -> bool:
    """Applied by this run, or attempted (intent) and found in effect."""
    if entry.status == "applied":
        return True
    return entry.status == "intent" and entry.change.change_id not in missing


def compensate(
    event: RollbackInput,
    clients: aws.Clients | None = None,
    ledger: Ledger | None = None,
) -> RollbackReport:
    """Revert what this migration did, newest first; never what existed before it."""
    request, migration_id = event.request, event.migration_id
    clients = clients or aws.target_clients(request.account_id, request.region)
    ledger = ledger or default_ledger()
    entries = list(ledger.entries(migration_id))
    reverted: list[str] = []
    kept: list[str] = []
    if entries:
        ctx, missing = _fresh(clients, request, migration_id)
        by_stage = sorted(entries, key=lambda e: (_REVERT_STAGES.index(e.change.stage), -e.seq))
        for entry in by_stage:
            if not _ours(entry, missing):
                continue
            change = entry.change
            if isinstance(change, AssociateVpcIpv6Cidr) and not request.release_vpc_cidr:
                # Irreversible: a re-associated Amazon-provided /56 is a different range.
                kept.append(change.change_id)
                continue
            if not change.reversible and not isinstance(change, AssociateVpcIpv6Cidr):
                kept.append(change.change_id)
                continue
            handler_for(change).revert(change, entry.before, entry.result, ctx)
            ledger.record(migration_id, entry.seq, change, "reverted")
            reverted.append(change.change_id)
            logger.info("change reverted", extra={"change_id": change.change_id})
    account = clients.account_id
    ledger.release(account, request.region, request.cluster, migration_id)
    return RollbackReport(
        reverted=tuple(reverted), kept=tuple(kept), untouched=len(entries) - len(reverted)
    )
