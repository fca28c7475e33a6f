"""Apply one stage of the approved plan, journaled and re-runnable; and compensate.

A stage reads the approved plan from the ledger and the estate from AWS. The planner, run on
the fresh estate, is the oracle of what is still missing: an approved change it no longer lists
is already in effect (ours if journaled as `intent`, else `in-place` and never reverted).
Nothing outside the approved plan is touched. Consecutive changes of one kind are started
together and waited for together (one filtered describe per poll for the batch).
"""

from __future__ import annotations

import itertools
import time
from functools import cache
from typing import Any, Literal

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field

from v6migrate import aws
from v6migrate.changes import Context, Kept, handler_for, long_handler_for, reverter_for
from v6migrate.changes.cluster import CniEgress, NodeRoll, Pending
from v6migrate.discover import discover
from v6migrate.errors import ChangeFailed
from v6migrate.journal import Entry, Ledger
from v6migrate.models import (
    AssociateVpcIpv6Cidr,
    Change,
    EnableCniIpv6Egress,
    ExecutionName,
    Frozen,
    Inventory,
    MigrationRequest,
    Plan,
    RollNodegroup,
    Stage,
)
from v6migrate.observability import logger, metrics, stage_duration
from v6migrate.plan import plan
from v6migrate.render import replacement_name

# Compensation order (DOMAIN.md, Rollback): the CNI flag off first, then the reverse of the
# plan's order stage by stage. Rolled nodes are kept (not reversible); the addresses they hold
# are given back when their subnet's /64 is released (changes.vpc).
_REVERT_STAGES: tuple[Stage, ...] = ("cni", "nodes", "attachments", "vpc")


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


class StageProgress(Frozen):
    """One step of a long stage (start-then-poll): the state machine waits and calls again
    until `done`."""

    stage: Stage
    done: bool
    running: tuple[str, ...]
    waiting: tuple[str, ...]
    applied: int
    already_applied: int
    found_in_place: int


class RollbackInput(Frozen):
    request: MigrationRequest
    migration_id: ExecutionName
    error: dict[str, Any] | None = None


class RollbackReport(Frozen):
    reverted: tuple[str, ...]
    kept: tuple[str, ...]
    untouched: int
    why_kept: dict[str, str] = Field(
        default_factory=dict,
        description="Changes kept because something the run does not own still uses them.",
    )
    done: bool = True
    waiting_on: str | None = Field(
        default=None, description="A long revert still running; the state machine calls again."
    )


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


def _bind(
    event: StageInput | RollbackInput, clients: aws.Clients | None, ledger: Ledger | None
) -> tuple[MigrationRequest, str, aws.Clients, Ledger]:
    """The request, the migration, and the clients and ledger to use (given, or the defaults:
    the target account's clients, the stack's ledger)."""
    request = event.request
    clients = clients or aws.target_clients(request.account_id, request.region, event.migration_id)
    return request, event.migration_id, clients, ledger or default_ledger()


def _journal(ledger: Ledger, migration_id: str) -> tuple[Plan, dict[str, int], dict[int, Entry]]:
    """The approved plan, each change's place in it, and the journal by that place."""
    approved = ledger.plan(migration_id)
    order = {change.change_id: seq for seq, change in enumerate(approved.changes)}
    return approved, order, {entry.seq: entry for entry in ledger.entries(migration_id)}


def _in_effect(
    ledger: Ledger, migration_id: str, seq: int, change: Change, entry: Entry | None
) -> Literal["already", "in-place"]:
    """Record a change found in effect: ours if we journaled its intent (a crash after the
    call), else it was there before the run (`in-place`, never reverted)."""
    ours = entry is not None and entry.status == "intent"
    ledger.record(migration_id, seq, change, "applied" if ours else "in-place")
    return "already" if ours else "in-place"


def clock() -> float:
    """Seconds since the epoch (a function, so a test can move it)."""
    return time.time()


def stage_began(ledger: Ledger, migration_id: str, stage: str) -> dict[str, Any]:
    """When the stage's first call began, noted once: a long stage spans many calls and waits."""
    key = f"stage#{stage}"
    began = ledger.read_note(migration_id, key)
    if began is None:
        began = {"started": clock()}
        ledger.note(migration_id, key, began)
    return began


def stage_ended(ledger: Ledger, migration_id: str, stage: str, began: dict[str, Any]) -> None:
    """The stage's duration, from its first call to now, noted and counted once (a call
    repeated after the end, a retry or a redrive, counts nothing more)."""
    if "seconds" in began:
        return
    seconds = round(max(0.0, clock() - float(began["started"])), 3)
    ledger.note(migration_id, f"stage#{stage}", {**began, "seconds": seconds})
    stage_duration(stage, seconds)


def run_stage(
    stage: Stage,
    event: StageInput,
    clients: aws.Clients | None = None,
    ledger: Ledger | None = None,
) -> StageReport:
    request, migration_id, clients, ledger = _bind(event, clients, ledger)
    began = stage_began(ledger, migration_id, stage)
    approved, order, journal = _journal(ledger, migration_id)
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
            counts[_in_effect(ledger, migration_id, seq, change, entry)] += 1
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
    stage_ended(ledger, migration_id, stage, began)
    return report


def advance_stage(
    stage: Stage,
    event: StageInput,
    clients: aws.Clients | None = None,
    ledger: Ledger | None = None,
) -> StageProgress:
    """Move a long stage on: poll what runs, start what may start, record what is done.

    Called by the state machine again and again (Task, Wait, Task, Choice) until `done`; each
    call is short and safe to repeat. At most `options.node_concurrency` node groups roll at
    once. A change counts as done when its operation succeeded AND the estate read afresh no
    longer needs it (for nodes: every node's primary ENI has a global IPv6 address).
    """
    request, migration_id, clients, ledger = _bind(event, clients, ledger)
    began = stage_began(ledger, migration_id, stage)
    approved, order, journal = _journal(ledger, migration_id)
    ctx, missing = _fresh(clients, request, migration_id)
    limit = request.options.node_concurrency if stage == "nodes" else 1

    running: list[str] = []
    finished: list[tuple[int, Change, dict[str, Any]]] = []
    waiting: list[tuple[int, Change, Entry | None]] = []
    counts = {"applied": 0, "already": 0, "in-place": 0}
    for change in approved.stage_changes(stage):
        seq = order[change.change_id]
        entry = journal.get(seq)
        handler = long_handler_for(change)
        if entry is not None and entry.status in ("applied", "in-place"):
            counts["already"] += 1
            continue
        if entry is not None and entry.status == "intent" and entry.result:
            done, result = handler.poll(change, entry.result, ctx)
            if result != entry.result:
                ledger.record(migration_id, seq, change, "intent", result=result)
            if done:
                finished.append((seq, change, result))
            else:
                running.append(change.change_id)
            continue
        if change.change_id not in missing:
            counts[_in_effect(ledger, migration_id, seq, change, entry)] += 1
            continue
        waiting.append((seq, change, entry))

    if finished:
        # Their operations succeeded: the estate read again must agree (every node with IPv6).
        ctx, missing = _fresh(clients, request, migration_id)
    for seq, change, result in finished:
        if change.change_id in missing and seen_by_aws(change):
            raise ChangeFailed(_unfinished(change, ctx))
        ledger.record(migration_id, seq, change, "applied", result=result)
        counts["applied"] += 1
        logger.info("change applied", extra={"change_id": change.change_id})

    started = 0
    for seq, change, entry in waiting:
        if len(running) >= limit:
            break
        handler = long_handler_for(change)
        if entry is None:
            ledger.record(migration_id, seq, change, "intent", before=handler.before(change, ctx))
        result = handler.start(change, ctx)
        ledger.record(migration_id, seq, change, "intent", result=result)
        running.append(change.change_id)
        started += 1
        logger.info("change started", extra={"change_id": change.change_id, "result": result})
    progress = StageProgress(
        stage=stage,
        done=not running and len(waiting) == started,
        running=tuple(running),
        waiting=tuple(change.change_id for _, change, _ in waiting[started:]),
        applied=counts["applied"],
        already_applied=counts["already"],
        found_in_place=counts["in-place"],
    )
    logger.info("stage progress", extra=progress.model_dump())
    if progress.done:
        stage_ended(ledger, migration_id, stage, began)
    return progress


def seen_by_aws(change: Change) -> bool:
    """Whether the AWS APIs show this change in effect. A self-managed CNI's env lives only in
    the cluster: its handler's poll reads it there (and validation checks it inside)."""
    return not (isinstance(change, EnableCniIpv6Egress) and not change.managed)


def _unfinished(change: Change, ctx: Context) -> str:
    """Why a change whose operation succeeded is still not in effect."""
    if isinstance(change, RollNodegroup):
        groups = {change.target, replacement_name(change.target)}
        bare = sorted(
            n.instance_id
            for n in ctx.inventory.nodes
            if n.nodegroup in groups and not n.ipv6_addresses
        )
        return (
            f"node group {change.target}: the rollout finished but nodes "
            f"{', '.join(bare) or '(unknown)'} have no IPv6 address on their primary ENI"
        )
    return f"{change.change_id}: the operation finished but the change is not in effect"


def _recycle(
    ledger: Ledger, migration_id: str, entry: Entry, change: RollNodegroup, ctx: Context
) -> tuple[bool, str]:
    """One step of cycling a rolled group's nodes back; its progress is a ledger note, written
    (as `starting`) before the first call is made."""
    key = f"recycle#{entry.seq:05d}"
    state = ledger.read_note(migration_id, key)
    if state is None:
        state = {"status": "starting"}
        ledger.note(migration_id, key, state)
    done, state = NodeRoll().recycle(change, entry.result, state, ctx)
    ledger.note(migration_id, key, {**state, "status": "done" if done else "running"})
    return done, f"node group {change.target}: cycling its nodes back"


def _remove_leftover_access(
    ledger: Ledger, migration_id: str, clients: aws.Clients, request: MigrationRequest
) -> None:
    """A validation that died mid-way may leave its probe namespace and its temporary access
    entry: remove them."""
    from v6migrate import kube
    from v6migrate.validate import NAMESPACE_NOTE

    namespace = ledger.read_note(migration_id, NAMESPACE_NOTE)
    if namespace is not None and namespace.get("status") == "intent":
        ctx, _ = _fresh(clients, request, migration_id)
        with kube.access(ctx, ()) as who, kube.cluster_admin(ctx, who):
            kube.connect(ctx).delete_namespace(namespace["name"])
        ledger.note(migration_id, NAMESPACE_NOTE, {**namespace, "status": "deleted"})
        logger.info("probe namespace removed", extra={"namespace": namespace["name"]})
    note = ledger.read_note(migration_id, "access")
    if note is None or note.get("status") != "intent":
        return
    ctx, _ = _fresh(clients, request, migration_id)
    kube.remove_access(ctx, note["principal"])
    ledger.note(migration_id, "access", {**note, "status": "removed"})
    logger.info("access entry removed", extra={"principal": note["principal"]})


def _ours(entry: Entry, missing: set[str]) -> bool:
    """Applied by this run, or attempted (intent) and found in effect."""
    if entry.status == "applied":
        return True
    return entry.status == "intent" and entry.change.change_id not in missing


def _waiting(
    reverted: list[str], kept: list[str], why_kept: dict[str, str], entries: int, on: str
) -> RollbackReport:
    """A compensation that stops here for now: the state machine waits and calls again."""
    return RollbackReport(
        reverted=tuple(reverted), kept=tuple(kept), untouched=entries - len(reverted),
        done=False, waiting_on=on, why_kept=why_kept,
    )  # fmt: skip


def compensate(
    event: RollbackInput,
    clients: aws.Clients | None = None,
    ledger: Ledger | None = None,
) -> RollbackReport:
    """Revert what this migration did, newest first; never what existed before it."""
    request, migration_id, clients, ledger = _bind(event, clients, ledger)
    entries = list(ledger.entries(migration_id))
    reverted: list[str] = []
    kept: list[str] = []
    why_kept: dict[str, str] = {}
    if entries:
        ctx, missing = _fresh(clients, request, migration_id)
        by_stage = sorted(entries, key=lambda e: (_REVERT_STAGES.index(e.change.stage), -e.seq))
        stale = any(e.change.stage in ("cni", "nodes") for e in entries)
        started = [e.change for e in entries
                   if isinstance(e.change, RollNodegroup) and e.status == "intent"]  # fmt: skip
        settled = False
        for entry in by_stage:
            if stale and entry.change.stage in ("attachments", "vpc"):
                # Rollouts came to rest while this call looked at them, launching nodes the
                # first read did not see: the network's reverts need them known as ours.
                ctx, missing = _fresh(clients, request, migration_id)
                stale = False
            if entry.status == "reverted":
                reverted.append(entry.change.change_id)  # by an earlier call of this rollback
                continue
            change = entry.change
            if isinstance(change, RollNodegroup) and entry.status == "intent":
                if not settled:
                    # Started, answer journaled or lost: the network they need stays until AWS
                    # is done with the nodes (reverted under them, they come up half-configured).
                    for roll in started:
                        rolling = NodeRoll().rolling(roll, ctx)
                        if rolling is not None:
                            return _waiting(reverted, kept, why_kept, len(entries), rolling)
                    # At rest now: read the nodes they launched since the first read.
                    ctx, missing = _fresh(clients, request, migration_id)
                    settled = True
                partly = NodeRoll().part_way(change, entry.before, ctx)
                if partly is not None and change.change_id in missing:
                    # At rest, unfinished: the nodes it replaced stay, and the report says so.
                    kept.append(change.change_id)
                    why_kept[change.change_id] = partly
                    logger.warning("change kept", extra={"change_id": change.change_id,
                                                         "reason": partly})  # fmt: skip
                    continue
            if isinstance(change, EnableCniIpv6Egress) and entry.status == "intent":
                # Its add-on update may still run (the stage failed, or died, while it did):
                # whether it is ours to revert is known only once AWS is done with it.
                running = CniEgress().running(change, entry.result, ctx)
                if running is not None:
                    return _waiting(reverted, kept, why_kept, len(entries), running)
                ctx, missing = _fresh(clients, request, migration_id)
            if not _ours(entry, missing):
                continue
            if isinstance(change, AssociateVpcIpv6Cidr) and not request.release_vpc_cidr:
                # Irreversible: a re-associated Amazon-provided /56 is a different range.
                kept.append(change.change_id)
                continue  # the /56 stays
            if isinstance(change, RollNodegroup) and request.recycle_nodes_on_rollback:
                done, waiting_on = _recycle(ledger, migration_id, entry, change, ctx)
                if not done:
                    return _waiting(reverted, kept, why_kept, len(entries), waiting_on)
                ledger.record(migration_id, entry.seq, change, "reverted")
                reverted.append(change.change_id)
                continue
            if not change.reversible and not isinstance(change, AssociateVpcIpv6Cidr):
                kept.append(change.change_id)
                continue
            try:
                reverter_for(change).revert(change, entry.before, entry.result, ctx)
            except Kept as reason:
                kept.append(change.change_id)
                why_kept[change.change_id] = str(reason)
                logger.warning("change kept", extra={"change_id": change.change_id,
                                                     "reason": str(reason)})  # fmt: skip
                continue
            except Pending as pending:
                # A long revert runs: the state machine waits and calls again; what follows
                # it (in DOMAIN.md's order) waits for it.
                return _waiting(reverted, kept, why_kept, len(entries), str(pending))
            ledger.record(migration_id, entry.seq, change, "reverted")
            reverted.append(change.change_id)
            logger.info("change reverted", extra={"change_id": change.change_id})
    _remove_leftover_access(ledger, migration_id, clients, request)
    report = RollbackReport(
        reverted=tuple(reverted), kept=tuple(kept), untouched=len(entries) - len(reverted),
        why_kept=why_kept,
    )  # fmt: skip
    # kept beside the journal while the run still holds the cluster: a wave's evidence says
    # what was rolled back from it
    ledger.note(migration_id, "rollback", report.model_dump(mode="json"))
    account = clients.account_id
    ledger.release(account, request.region, request.cluster, migration_id)
    metrics.add_metric(name="MigrationsRolledBack", unit=MetricUnit.Count, value=1)
    return report
