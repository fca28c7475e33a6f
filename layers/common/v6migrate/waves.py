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
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from v6migrate.models import (
    AccountId,
    ApprovalPolicy,
    ClusterName,
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
    tolerance: Tolerance = Tolerance()
    approval: ApprovalPolicy = ApprovalPolicy()
    bake_minutes: int = Field(default=0, ge=0, le=1440)
    freeze: tuple[FreezeWindow, ...] = ()
    options: PlanOptions = PlanOptions()

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
