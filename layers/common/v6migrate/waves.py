"""Waves: many clusters, across accounts and Regions, migrated under one approval and one
failure tolerance (issue 11, item 5).

`waves.yaml` names each wave's targets (accounts, organisational units resolved through AWS
Organizations, Regions, cluster names or tags), its schedule, concurrency, tolerated failures,
approvers, bake time and freeze windows. A wave run resolves its targets and plans every
cluster (a dry run: a blocked cluster is reported, never started), asks once for the wave, then
starts one child migration per cluster whose approval is bound to the plan the wave approved:
the child plans again before its first change, and a plan that moved is asked about again.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from v6migrate.errors import InputError
from v6migrate.models import (
    AccountId,
    ApprovalPolicy,
    ClusterName,
    Finding,
    Frozen,
    MigrationRequest,
    PlanOptions,
    PlanSummary,
    Region,
)

WaveId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
OrganizationalUnitId = Annotated[str, Field(pattern=r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")]
# EventBridge Scheduler expressions (user guide, schedule types): one time, or recurring
ScheduleExpression = Annotated[
    str, Field(pattern=r"^(at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)|cron\([^()]+\)|rate\([^()]+\))$")
]


def _zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"{name!r} is not an IANA time zone") from error
    return name


class Targets(Frozen):
    accounts: tuple[AccountId, ...] = ()
    organizational_units: tuple[OrganizationalUnitId, ...] = Field(
        default=(), description="Every active account under these OUs, nested ones included."
    )
    clusters: tuple[ClusterName, ...] = Field(
        default=(), description="Only these clusters; empty: every cluster the tags select."
    )
    cluster_tags: dict[str, str] = Field(
        default_factory=dict, description="Clusters carrying all of these tags."
    )

    @model_validator(mode="after")
    def _something(self) -> Targets:
        if not self.accounts and not self.organizational_units:
            raise ValueError("name accounts or organizational_units")
        if not self.clusters and not self.cluster_tags:
            raise ValueError("name clusters or cluster_tags (a wave never takes every cluster)")
        return self


class Tolerance(Frozen):
    """Failed clusters the wave tolerates before it stops starting more (Distributed Map's
    ToleratedFailureCount / ToleratedFailurePercentage): none by default."""

    count: int | None = Field(default=None, ge=0)
    percentage: float | None = Field(default=None, ge=0, le=100)


class Schedule(Frozen):
    expression: ScheduleExpression
    timezone: str = "UTC"
    flexible_window_minutes: int = Field(default=0, ge=0, le=1440)

    @model_validator(mode="after")
    def _zone_known(self) -> Schedule:
        _zone(self.timezone)
        return self


class FreezeWindow(Frozen):
    """No wave starts a cluster from `start` to `end`, local time in `timezone`."""

    start: datetime.datetime
    end: datetime.datetime
    timezone: str = "UTC"
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> FreezeWindow:
        _zone(self.timezone)
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def covers(self, moment: datetime.datetime) -> bool:
        zone = zoneinfo.ZoneInfo(self.timezone)
        start = self.start.replace(tzinfo=self.start.tzinfo or zone)
        end = self.end.replace(tzinfo=self.end.tzinfo or zone)
        return start <= moment < end


class WaveSpec(Frozen):
    id: WaveId
    description: str = ""
    targets: Targets
    regions: tuple[Region, ...] = Field(min_length=1)
    mode: Literal["plan", "apply"] = "apply"
    schedule: Schedule | None = None
    max_concurrency: int = Field(default=1, ge=1, le=100)
    max_concurrency_per_account_region: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="At most this many clusters at once in one account and Region (EC2's "
        "request buckets are per account and Region); none: only max_concurrency.",
    )
    ramp: bool = Field(
        default=True,
        description="Start one cluster, then two, then twice as many each time all those "
        "started have succeeded, up to max_concurrency; false: max_concurrency from the start.",
    )
    tolerance: Tolerance = Tolerance()
    approval: ApprovalPolicy = ApprovalPolicy()
    bake_minutes: int = Field(default=0, ge=0, le=1440)
    freeze: tuple[FreezeWindow, ...] = ()
    options: PlanOptions = PlanOptions()

    @model_validator(mode="after")
    def _platform_fields(self) -> WaveSpec:
        # Set for the wave's runs by the API, the wave and the platform's policy: a wave's
        # author naming them would name its own requester or bypass its approval
        for name, by in (("requested_by", "the API or the schedule: the caller"),
                         ("preapproved_plan_hash", "the wave, for the plans its approvers "
                          "approved"),
                         ("people_by_session", "the platform's approval policy")):  # fmt: skip
            if getattr(self.approval, name):
                raise ValueError(
                    f"approval.{name} is set by {by}, not by a wave (its requester is who "
                    "starts or schedules it through the API)"
                )
        return self

    def frozen_at(self, moment: datetime.datetime) -> FreezeWindow | None:
        return next((window for window in self.freeze if window.covers(moment)), None)


class WavesFile(Frozen):
    waves: tuple[WaveSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> WavesFile:
        ids = [wave.id for wave in self.waves]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"wave ids must be unique: {', '.join(repeated)}")
        return self


# ----------------------------------------------------------------------------- a wave run


class Target(Frozen):
    account_id: AccountId
    region: Region
    cluster: ClusterName


class Planned(Frozen):
    """One cluster of a wave, planned: started unless blocked."""

    target: Target
    summary: PlanSummary


def wave_hash(planned: list[Planned]) -> str:
    """What the wave's approval is bound to: each cluster with its plan's hash."""
    body = json.dumps(
        sorted(
            [p.target.account_id, p.target.region, p.target.cluster, p.summary.plan_hash]
            for p in planned
        ),
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def child_request(wave: WaveSpec, planned: Planned, requested_by: str | None) -> MigrationRequest:
    """The migration a wave starts for one cluster: its approval is the wave's, bound to the
    plan the wave approved (`preapproved_plan_hash`), so a plan that moved is asked again."""
    policy = wave.approval.model_copy(
        update={
            "requested_by": requested_by or wave.approval.requested_by,
            "preapproved_plan_hash": planned.summary.plan_hash
            if wave.approval.mode == "required"
            else None,
        }
    )
    return MigrationRequest(
        cluster=planned.target.cluster, region=planned.target.region,
        account_id=planned.target.account_id, mode=wave.mode, wave_id=wave.id,
        options=wave.options, approval=policy,
    )  # fmt: skip


def wave_summary(wave: WaveSpec, run_id: str, planned: list[Planned]) -> dict[str, Any]:
    """What the wave's approval shows: every cluster, its changes by stage, or its blockers."""
    return {
        "wave_id": wave.id,
        "run_id": run_id,
        "clusters": [
            {**p.target.model_dump(), "blocked": p.summary.blocked,
             "counts": p.summary.counts, "plan_hash": p.summary.plan_hash,
             "blockers": [b.message for b in p.summary.blockers]}
            for p in planned
        ],
    }  # fmt: skip


# ----------------------------------------------------------------------------- schedules


def schedule_name(wave: WaveSpec) -> str:
    return f"wave-{wave.id}"


def schedule_request(wave: WaveSpec, machine_arn: str, role_arn: str, group: str) -> dict[str, Any]:
    """The EventBridge Scheduler schedule that starts this wave (CreateSchedule's fields): its
    expression in its time zone, within its flexible window; a one-time (`at`) schedule deletes
    itself once it has run (ActionAfterCompletion DELETE). Its input names the schedule's
    request on record (who made the schedule), never a requester."""
    assert wave.schedule is not None
    window = wave.schedule.flexible_window_minutes
    return {
        "Name": schedule_name(wave),
        "GroupName": group,
        "ScheduleExpression": wave.schedule.expression,
        "ScheduleExpressionTimezone": wave.schedule.timezone,
        "FlexibleTimeWindow": (
            {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": window} if window else {"Mode": "OFF"}
        ),
        "Target": {
            "Arn": machine_arn,
            "RoleArn": role_arn,
            "Input": json.dumps(
                {"wave": wave.model_dump(mode="json"), "request": schedule_request_id(wave)},
                sort_keys=True,
            ),
        },
        "ActionAfterCompletion": "DELETE" if wave.schedule.expression.startswith("at(") else "NONE",
        "State": "ENABLED",
        "Description": f"v6migrate wave {wave.id}",
    }


def schedule_changes(wanted: dict[str, Any], existing: dict[str, Any]) -> list[str]:
    """The fields of a schedule that differ from what waves.yaml wants (empty: unchanged)."""
    changed = [
        key
        for key in (
            "ScheduleExpression",
            "ScheduleExpressionTimezone",
            "FlexibleTimeWindow",
            "ActionAfterCompletion",
            "State",
        )
        if wanted[key] != existing.get(key)
    ]
    have = existing.get("Target", {})
    for key in ("Arn", "RoleArn"):
        if wanted["Target"][key] != have.get(key):
            changed.append(f"Target.{key}")
    if json.loads(wanted["Target"]["Input"]) != json.loads(have.get("Input") or "null"):
        changed.append("Target.Input (the wave)")
    return changed


ScheduleChange = Literal["create", "update", "delete", "unchanged"]


def schedule_plan(
    specs: tuple[WaveSpec, ...], existing: dict[str, dict[str, Any]], machine_arn: str,
    role_arn: str, group: str,
) -> list[tuple[ScheduleChange, str, dict[str, Any] | None, list[str]]]:  # fmt: skip
    """What makes the group's schedules those the scheduled waves want: each schedule's change,
    name, wanted request (None: deleted) and the fields that differ. A schedule of a wave no
    longer there, or no longer scheduled, is deleted."""
    wanted = {
        schedule_name(w): schedule_request(w, machine_arn, role_arn, group)
        for w in specs
        if w.schedule is not None
    }
    plan: list[tuple[ScheduleChange, str, dict[str, Any] | None, list[str]]] = []
    for name, request in wanted.items():
        if name not in existing:
            plan.append(("create", name, request, []))
            continue
        changed = schedule_changes(request, existing[name])
        plan.append(("update" if changed else "unchanged", name, request, changed))
    plan.extend(("delete", name, None, []) for name in sorted(set(existing) - set(wanted)))
    return plan


def scope_of(wave: dict[str, Any] | None) -> list[str]:
    """The accounts a wave (as a schedule's input holds it) reaches, for the platform's scopes:
    `*` for organisational units (known only once resolved) or a wave that cannot be read."""
    targets = (wave or {}).get("targets") or {}
    accounts = [str(a) for a in targets.get("accounts") or ()]
    return [*accounts, "*"] if targets.get("organizational_units") or not accounts else accounts


# ----------------------------------------------------------------------------- resolving


def accounts_under(organizations: Any, parent: str) -> list[str]:
    """Every ACTIVE account under an organisational unit, nested units included
    (Organizations API: ListAccountsForParent, ListOrganizationalUnitsForParent; both page)."""
    found: list[str] = []
    pending = [parent]
    while pending:
        unit = pending.pop()
        for page in organizations.get_paginator("list_accounts_for_parent").paginate(ParentId=unit):
            found.extend(
                a["Id"] for a in page["Accounts"] if a.get("State", a.get("Status")) == "ACTIVE"
            )
        for page in organizations.get_paginator("list_organizational_units_for_parent").paginate(
            ParentId=unit
        ):
            pending.extend(u["Id"] for u in page["OrganizationalUnits"])
    return found


def accounts_of(wave: WaveSpec, organizations: Any | None) -> list[str]:
    accounts = list(dict.fromkeys(wave.targets.accounts))
    if wave.targets.organizational_units:
        if organizations is None:
            raise ValueError(f"wave {wave.id}: organisational units need AWS Organizations")
        for unit in wave.targets.organizational_units:
            accounts.extend(a for a in accounts_under(organizations, unit) if a not in accounts)
    return accounts


def clusters_in(eks: Any, targets: Targets) -> list[str]:
    """The clusters of one account and Region a wave takes: by name, or carrying every tag."""
    names = [n for page in eks.get_paginator("list_clusters").paginate() for n in page["clusters"]]
    chosen = []
    for name in sorted(names):
        if targets.clusters and name not in targets.clusters:
            continue
        if targets.cluster_tags:
            tags = eks.describe_cluster(name=name)["cluster"].get("tags", {})
            if any(tags.get(k) != v for k, v in targets.cluster_tags.items()):
                continue
        chosen.append(name)
    return chosen


def resolve(wave: WaveSpec, organizations: Any | None, eks_for: Any) -> list[Target]:
    """Every cluster the wave takes, in a stable order: account, Region, name.
    `eks_for(account_id, region)` is an EKS client in that account (through the target role)."""
    return [
        Target(account_id=account, region=region, cluster=name)
        for account in accounts_of(wave, organizations)
        for region in wave.regions
        for name in clusters_in(eks_for(account, region), wave.targets)
    ]


# Plans made at once by the one invocation that resolves a wave (600 s at most). A dry run
# takes 30 to 50 API calls a cluster (bench/plan_scale.py), each a round trip on AWS: one after
# the other, a few hundred clusters would outlast the invocation. At most
# PLANS_PER_ACCOUNT_REGION of one account and Region at once (or the wave's own lower limit):
# EC2's describe bucket, 100 at 20/s, is per account and Region.
PLANNERS = 16
PLANS_PER_ACCOUNT_REGION = 4


def plan_all(wave: WaveSpec, targets: list[Target], run_id: str) -> list[Planned]:
    """Each cluster planned as a dry run (discovery through the target role; nothing changed),
    with its plan's hash: what the wave's approval binds. In the targets' order; several at
    once, never more than the limit above in one account and Region. A plan that fails fails
    the whole (the others, read-only, finish first)."""
    if not targets:
        return []
    limit = min(PLANS_PER_ACCOUNT_REGION,
                wave.max_concurrency_per_account_region or PLANS_PER_ACCOUNT_REGION)  # fmt: skip
    places: dict[tuple[str, str], list[int]] = {}
    for index, target in enumerate(targets):
        places.setdefault((target.account_id, target.region), []).append(index)
    lanes: list[list[int]] = []  # each lane's plans one after the other
    for indices in places.values():
        width = min(limit, len(indices))
        lanes.extend(indices[lane::width] for lane in range(width))
    planned: dict[int, Planned] = {}

    def run(lane: list[int]) -> None:
        for index in lane:
            planned[index] = _plan_one(wave, targets[index], run_id)

    with ThreadPoolExecutor(max_workers=min(PLANNERS, len(lanes))) as pool:
        for _ in pool.map(run, lanes):  # the first failure, raised here
            pass
    return [planned[index] for index in range(len(targets))]


def _plan_one(wave: WaveSpec, target: Target, run_id: str) -> Planned:
    from v6migrate.approval import plan_hash
    from v6migrate.preflight import make_plan, summarise

    request = MigrationRequest(
        cluster=target.cluster, region=target.region, account_id=target.account_id,
        mode="plan", options=wave.options,
    )  # fmt: skip
    result = make_plan(request, migration_id=run_id)  # read-only, as the wave run
    summary = summarise(result, request, migration_id=run_id, limit=0)
    return Planned(
        target=target, summary=summary.model_copy(update={"plan_hash": plan_hash(result)})
    )


# ----------------------------------------------------------------------------- running


RequestId = Annotated[str, Field(pattern=r"^(schedule|start):[0-9A-Za-z_-]{1,80}$")]


class WaveInput(Frozen):
    """What starts a wave run: the wave, and the request on record that started it (`start:`
    the API's POST /waves, `schedule:` a schedule the API made), which says who asked. Anyone
    who may call StartExecution writes this input, so it never names the requester itself."""

    wave: WaveSpec
    request: RequestId | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_requester(cls, data: Any) -> Any:
        if isinstance(data, dict) and "requested_by" in data:
            raise ValueError(
                "requested_by: a wave's requester is not taken from its input; start the wave "
                "with POST /waves (v6migrate waves start) or schedule it with PUT "
                "/waves/schedules (v6migrate waves apply), which record their caller"
            )
        return data


def schedule_request_id(wave: WaveSpec) -> str:
    return f"schedule:{schedule_name(wave)}"


def wave_digest(wave: WaveSpec) -> str:
    """What a request on record binds: the wave as its requester sent it, defaults filled."""
    text = json.dumps(wave.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def requester_of(ledger: Any, started: WaveInput) -> str | None:
    """Who asked for this wave run: the caller the request on record names (None: started
    without one, e.g. from the console). A request that is not on record, or was for another
    wave, is refused."""
    if started.request is None:
        return None
    kept = ledger.wave_request(started.request)
    if kept is None:
        raise InputError(
            f"wave {started.wave.id}: request {started.request} is not on record, so its "
            "requester is unknown: start waves with POST /waves or a schedule the API made"
        )
    if not kept["wave_digest"]:
        raise InputError(
            f"wave {started.wave.id}: request {started.request} ended when "
            f"{kept['requested_by']} deleted its schedule, so its requester is unknown"
        )
    if kept["wave_digest"] != wave_digest(started.wave):
        raise InputError(
            f"wave {started.wave.id}: not the wave its requester asked for in request "
            f"{started.request} (the input changed the wave)"
        )
    return str(kept["requested_by"])


def refuse_unknown_requester(wave: WaveSpec, requester: str | None) -> None:
    """A wave that needs someone other than its requester to approve it needs its requester
    known: otherwise whoever started it could approve it."""
    approval = wave.approval
    if requester is None and approval.mode != "none" and not approval.allow_self_approval:
        raise InputError(
            f"wave {wave.id}: its requester is unknown (started without a request on record), "
            "and its approval must come from someone else; start it with POST /waves "
            "(v6migrate waves start) or schedule it with v6migrate waves apply"
        )


def item_name(wave_id: str, run_id: str, index: int, cluster: str) -> str:
    """The child execution's name: the wave, the cluster, and a digest of the run and the
    item, so a redriven wave run names the same child (at most 80 characters)."""
    digest = hashlib.sha256(f"{run_id}:{index}".encode()).hexdigest()[:10]
    return f"{wave_id[:20]}-{cluster[:40]}-{digest}"


def targets_output(
    wave: WaveSpec, run_id: str, planned: list[Planned], requested_by: str | None,
    frozen: FreezeWindow | None, held: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """ResolveTargets' answer to the wave state machine: the runs to start (each bound to its
    plan), the blocked clusters, what the approval shows and binds, the Map's settings."""
    startable = [p for p in planned if not p.summary.blocked]
    # Each item names its cluster only: its request (with the plan hash the wave approves) is
    # kept in the ledger and handed to the item by the gate (`child_requests`), so the state
    # stays far below Step Functions' 256 KiB however many clusters the wave takes.
    items = [
        {"name": item_name(wave.id, run_id, index, p.target.cluster),
         "account_id": p.target.account_id, "region": p.target.region,
         "cluster": p.target.cluster}
        for index, p in enumerate(startable)
    ]  # fmt: skip
    counts: dict[str, int] = {}
    for p in startable:
        for stage, n in p.summary.counts.items():
            counts[stage] = counts.get(stage, 0) + n
    summary = PlanSummary(
        migration_id=run_id, cluster=f"wave {wave.id}: {len(startable)} cluster(s)",
        account_id=",".join(sorted({p.target.account_id for p in startable})),
        region=",".join(sorted({p.target.region for p in startable})), mode=wave.mode,
        blocked=False, blockers=(), warnings=hold_warning(held), counts=counts, changes=(),
        omitted_changes=sum(counts.values()), plan_hash=wave_hash(startable),
        approval=wave.approval,
    )  # fmt: skip
    tolerance = wave.tolerance
    answer: dict[str, Any] = {
        "wave": wave.model_dump(mode="json"),  # with its defaults, for the states after
        "frozen": frozen.model_dump(mode="json") if frozen else None,
        "held": held,
        "count": len(items),
        "items": items,
        "blocked": [
            {**p.target.model_dump(), "blockers": [b.message for b in p.summary.blockers]}
            for p in planned
            if p.summary.blocked
        ],
        "approval_summary": summary.model_dump(mode="json"),
        "wave_hash": summary.plan_hash,
        "max_concurrency": wave.max_concurrency,
        "ramp": wave.ramp,
        "max_concurrency_per_account_region": wave.max_concurrency_per_account_region,
        "start_concurrency": 1 if wave.ramp else wave.max_concurrency,
        "tolerated_failure_count": tolerance.count if tolerance.count is not None else 0,
        "tolerated_failure_percentage": float(tolerance.percentage or 0.0),
        "bake_seconds": wave.bake_minutes * 60,
    }
    size = len(json.dumps(answer))
    if size > STATE_BUDGET:
        raise InputError(
            f"wave {wave.id} resolves to {len(items)} clusters, {size} bytes of state: more than "
            f"Step Functions carries between states (256 KiB); split it into smaller waves"
        )
    if wave.bake_minutes and len(items) > MAX_RECHECKED:
        raise InputError(
            f"wave {wave.id} resolves to {len(items)} clusters and bakes: its checks after the "
            f"bake write each cluster's events into the wave's own history, which Step Functions "
            f"ends at 25,000 events, so a baking wave takes at most {MAX_RECHECKED} clusters; "
            "split it into smaller waves"
        )
    return answer


# What a wave's resolved targets may take of Step Functions' 256 KiB a state (the rest is the
# wave's input and the states' own fields): about 250 bytes a cluster, so some 800 clusters.
STATE_BUDGET = 200_000
# The clusters a baking wave checks again (its inline Recheck Map writes about 80 history
# events a cluster, retries included: tooling/asl_budget.py counts them below the quota)
MAX_RECHECKED = 300


def child_requests(
    wave: WaveSpec, run_id: str, planned: list[Planned], requested_by: str | None
) -> dict[str, dict[str, Any]]:
    """Each startable cluster's child request, by its item's name."""
    startable = [p for p in planned if not p.summary.blocked]
    return {
        item_name(wave.id, run_id, index, p.target.cluster): child_request(
            wave, p, requested_by
        ).model_dump(mode="json", exclude_none=True)
        for index, p in enumerate(startable)
    }


def compact(evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence as the state machine and the Wave Completed event carry it: each cluster's
    run without its stages and validation, and what a rollback undid as counts (in full in
    the ledger's `report-<execution>` records), so a wave of many clusters stays within Step
    Functions' and EventBridge's 256 KiB."""
    kept = ("account_id", "region", "cluster", "execution", "status", "seconds", "error")
    clusters = []
    for cluster in evidence["clusters"]:
        entry = {k: cluster[k] for k in kept if k in cluster}
        if "recheck" in cluster:  # whether it passed again, and how many checks did not
            again = cluster["recheck"]
            failures = len(again.get("failures") or ()) or int("error" in again)
            entry["recheck"] = {"passed": bool(again["passed"]), "failures": failures}
        if "rolled_back" in cluster:  # how many changes it undid and kept (each in the ledger)
            undone = cluster["rolled_back"]
            entry["rolled_back"] = {"reverted": len(undone["reverted"]),
                                    "kept": len(undone["kept"])}  # fmt: skip
        clusters.append(entry)
    return {**evidence, "clusters": clusters}


def report(
    wave: WaveSpec, run_id: str, targets: dict[str, Any], runs: list[dict[str, Any] | None],
    failure: dict[str, Any] | None, approval: dict[str, Any] | None,
    control: Control | None = None, rechecks: list[dict[str, Any] | None] | None = None,
    rollbacks: list[dict[str, Any] | None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The wave's evidence: who approved, each cluster's run (its DescribeExecution, or None
    if it never started: status, duration, stages, validation), what was blocked, how the
    wave ended. With `rechecks` (the probes run again after the bake, a result or None per
    cluster), a cluster that succeeded and did not pass them again (or was not checked) ends
    the wave `bake-failed`. With `rollbacks` (a failed run's compensation report, or None),
    what it reverted and what it kept, and why."""
    clusters = []
    items = targets.get("items", [])
    nothing = [None] * len(items)
    for item, run, again, undone in zip(
        items, runs, rechecks or nothing, rollbacks or nothing, strict=True
    ):
        entry: dict[str, Any] = {
            "account_id": item["account_id"], "region": item["region"],
            "cluster": item["cluster"], "execution": item["name"],
            "status": "NOT_STARTED",
        }  # fmt: skip
        if run is not None:
            entry["status"] = run["status"]
            start, stop = run.get("startDate"), run.get("stopDate")
            if isinstance(start, datetime.datetime) and isinstance(stop, datetime.datetime):
                entry["seconds"] = round((stop - start).total_seconds(), 1)
            output = json.loads(run["output"]) if run.get("output") else {}
            if isinstance(output, dict):
                entry["stages"] = output.get("stages")
                entry["validation"] = output.get("validation")
            if run.get("error"):
                entry["error"] = run["error"]
        if undone is not None and entry["status"] != "SUCCEEDED":
            entry["rolled_back"] = {"reverted": list(undone.get("reverted") or ()),
                                    "kept": list(undone.get("kept") or ()),
                                    "why_kept": dict(undone.get("why_kept") or {})}  # fmt: skip
        if rechecks is not None and entry["status"] == "SUCCEEDED":
            entry["recheck"] = again or {"passed": False, "error": "not checked again"}
        clusters.append(entry)
    succeeded = sum(1 for c in clusters if c["status"] == "SUCCEEDED")
    failed = sum(1 for c in clusters if c["status"] not in ("SUCCEEDED", "NOT_STARTED"))
    control = control or Control()
    if targets.get("frozen"):
        status = "frozen"
    elif control.aborted:
        status = "aborted"
    elif failure:
        status = "stopped"
    elif any(not c["recheck"]["passed"] for c in clusters if "recheck" in c):
        status = "bake-failed"
    elif succeeded == len(clusters):
        status = "succeeded"
    else:
        status = "succeeded-within-tolerance"
    blocked = targets.get("blocked", [])
    return {
        "wave_id": wave.id,
        "run_id": run_id,
        "status": status,
        "approved_by": list((approval or {}).get("approvers", [])),
        "wave_hash": targets.get("wave_hash"),
        "clusters": clusters,
        "blocked": blocked,
        "counts": {
            "planned": len(clusters) + len(blocked),
            "succeeded": succeeded,
            "failed": failed,
            "not_started": len(clusters) - succeeded - failed,
            "blocked": len(blocked),
        },
        "error": (failure or {}).get("Error"),
        "operator_actions": list(control.actions),
    }


def ramp_level(succeeded: int, ceiling: int) -> int:
    """The concurrency a ramping wave runs at once `succeeded` clusters have succeeded: 1, then
    2 after the first, 4 after three, 8 after seven (each level proven before the next),
    never above `ceiling`."""
    level: int = 2 ** ((succeeded + 1).bit_length() - 1)
    return max(1, min(ceiling, level))


class Control(Frozen):
    """What operators did to a running wave (the API's pause, resume, abort and PATCH), as the
    ledger keeps it: the gate before each cluster reads `paused` and `aborted`; the ramp never
    goes above `max_concurrency` once set."""

    paused: bool = False
    aborted: bool = False
    max_concurrency: int | None = Field(default=None, ge=1, le=100)
    tolerated_failure_count: int | None = Field(default=None, ge=0)
    tolerated_failure_percentage: float | None = Field(default=None, ge=0, le=100)
    actions: tuple[dict[str, Any], ...] = ()


def control_of(ledger: Any, run_id: str) -> Control:
    """The wave run's control record, as the ledger keeps it."""
    return Control.model_validate(ledger.read_control(run_id))


def gate(control: Control, slot: bool = True) -> dict[str, bool]:
    """Before a cluster starts: go, wait (paused, or no slot free in its account and Region), or
    skip it (aborted: the clusters already running finish, no other starts)."""
    return {
        "aborted": control.aborted,
        "paused": control.paused and not control.aborted,
        "slot": slot,
    }


def slot_key(account_id: str, region: str) -> str:
    return f"{account_id}#{region}"


def recheck_rounds(items: list[dict[str, Any]], per_account_region: int | None) -> list[list[str]]:
    """The wave's clusters (their run names) in the rounds their probes run again after the
    bake, one round after the other: no round holds more than `per_account_region` of one
    account and Region (the wave's limit, as for the migrations: EC2's request buckets are per
    account and Region). Without a limit, one round of all."""
    if not items:
        return []
    if not per_account_region:
        return [[str(item["name"]) for item in items]]
    rounds: list[list[str]] = []
    seen: dict[str, int] = {}
    for item in items:
        key = slot_key(str(item["account_id"]), str(item["region"]))
        index = seen.get(key, 0) // per_account_region
        seen[key] = seen.get(key, 0) + 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(str(item["name"]))
    return rounds


def holds_later_waves(evidence: dict[str, Any]) -> bool:
    """Whether this wave's end holds the waves after it until one of them is approved: it
    stopped past its tolerance or on the HaltWaves alarm once clusters had started, a cluster
    it migrated failed the probes after the bake, or an operator aborted it. A freeze, a
    rejection, nothing to start: no hold."""
    if evidence["status"] in ("aborted", "bake-failed"):
        return True
    counts = evidence["counts"]
    started = int(counts["succeeded"]) + int(counts["failed"])
    return evidence["status"] == "stopped" and started > 0


def hold_warning(held: dict[str, Any] | None) -> tuple[Finding, ...]:
    """What the approvers of a held wave read before they let the waves go on."""
    if not held:
        return ()
    return (
        Finding(
            code="WavesHeld",
            severity="warning",
            message=f"wave {held['wave_id']} (run {held['run_id']}) ended {held['status']}: "
            f"approving this wave lets the waves go on",
        ),
    )
