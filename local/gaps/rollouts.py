"""Long EKS and Auto Scaling operations that moto 5.2.5 lacks: add-on updates, node group
version and scaling updates (`DescribeUpdate`), instance refreshes, and TagResource on node
groups and add-ons.

They progress on the simulated clock (`timing.CLOCK`), one node at a time as AWS does with its
default `maxUnavailable` of 1 (an instance refresh replaces `100 - MinHealthyPercentage` percent
per batch, at least one): a poll sees `InProgress` until the work is done, and the instances are
really replaced, so the new ones get IPv6 from subnets that assign it. Progress is computed when
someone looks (any describe of these services), from the time that has passed.

Failures are injected the way an operator would meet them, by tagging the resource
`v6migrate.local/fail` with the error: `PodEvictionFailure` on a node group, `Failed` on an Auto
Scaling group, `ConfigurationConflict` on the add-on. `v6migrate.local/seconds-per-node` on a
node group or an Auto Scaling group sets its simulated time per node (default 60 s).

EKS API reference: UpdateAddon, UpdateNodegroupVersion, UpdateNodegroupConfig, DescribeUpdate
(`InProgress | Failed | Cancelled | Successful`, `errors[].errorCode` e.g. `PodEvictionFailure`);
Auto Scaling API reference: StartInstanceRefresh, DescribeInstanceRefreshes
(`InstanceRefreshInProgress` while one runs).
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult
from moto.eks import urls as eks_urls
from moto.eks.exceptions import ResourceInUseException, ResourceNotFoundException
from moto.eks.models import EKSBackend
from moto.eks.responses import EKSResponse

from local.gaps.eks import (
    _addons,
    _body,
    _ec2,
    _invalid,
    _release,
    _template_data,
    eks_launch_template,
    validate_configuration,
)
from local.gaps.paging import page_size
from local.gaps.timing import CLOCK, NODE_READY_SECONDS, settling
from local.gaps.vpc_cni import ADDON_CATALOG

FAIL_TAG = "v6migrate.local/fail"
SECONDS_TAG = "v6migrate.local/seconds-per-node"
SECONDS_PER_NODE = 60.0
ADDON_UPDATE_SECONDS = 40.0

_lock = threading.RLock()


def _wall(sim: float) -> datetime:
    """A simulated instant as a timestamp (now, shifted by how far the clock is from it)."""
    return datetime.now(UTC) + timedelta(seconds=sim - CLOCK.now())


@dataclass
class Roll:
    """Instances of an Auto Scaling group replaced (or removed) in batches over time."""

    group: Any  # moto FakeAutoScalingGroup
    old: list[str]
    seconds_per_batch: float
    batch: int = 1
    replace: bool = True
    fail: str | None = None
    started: float = field(default_factory=CLOCK.now)
    done: int = 0
    status: str = "InProgress"
    ended: float | None = None

    @property
    def batches(self) -> int:
        return math.ceil(len(self.old) / self.batch)

    @property
    def duration(self) -> float:
        return self.batches * self.seconds_per_batch

    def advance(self, now: float) -> str:
        if self.status != "InProgress":
            return self.status
        elapsed = now - self.started
        if self.fail:
            # Draining the first batch is where evictions fail (DOMAIN.md, Nodes: 15 min).
            if elapsed >= self.seconds_per_batch or not self.old:
                self.status, self.ended = "Failed", self.started + self.seconds_per_batch
            return self.status
        due = min(len(self.old), int(elapsed // self.seconds_per_batch) * self.batch)
        while self.done < due:
            self._step(self.old[self.done])
            self.done += 1
        # A replacing roll ends once its last new node is Ready (timing.NODE_READY_SECONDS).
        end = self.duration + (NODE_READY_SECONDS if self.replace and self.old else 0.0)
        if self.done >= len(self.old) and elapsed >= end:
            self.status, self.ended = "Successful", self.started + end
        return self.status

    def _step(self, instance_id: str) -> None:
        group = self.group
        group.instance_states = [s for s in group.instance_states if s.instance.id != instance_id]
        group.autoscaling_backend.ec2_backend.terminate_instances([instance_id])
        if self.replace:
            group.replace_autoscaling_group_instances(1, group.get_propagated_tags())
        else:
            group.desired_capacity = len(group.instance_states)


def _tag(tags: dict[str, str] | None, key: str) -> str | None:
    return (tags or {}).get(key)


def _seconds(tags: dict[str, str] | None) -> float:
    value = _tag(tags, SECONDS_TAG)
    return float(value) if value else SECONDS_PER_NODE


# --------------------------------------------------------------------------- EKS updates


@dataclass
class Update:
    update_id: str
    kind: str  # VersionUpdate | ConfigUpdate | AddonUpdate
    cluster: str
    params: list[dict[str, str]]
    progress: Callable[[float], tuple[str, list[dict[str, Any]]]]
    nodegroup: str | None = None
    addon: str | None = None
    token: str | None = None
    created: float = field(default_factory=CLOCK.now)
    status: str = "InProgress"
    errors: list[dict[str, Any]] = field(default_factory=list)
    roll: Roll | None = None

    def view(self) -> dict[str, Any]:
        with _lock:
            if self.status == "InProgress":
                self.status, self.errors = self.progress(CLOCK.now())
        return {
            "id": self.update_id,
            "status": self.status,
            "type": self.kind,
            "params": self.params,
            "createdAt": _wall(self.created),
            "errors": self.errors,
        }


def _updates(backend: EKSBackend) -> dict[str, Update]:
    store: dict[str, Update] = backend.__dict__.setdefault("_v6_updates", {})
    return store


def _record(backend: EKSBackend, update_id: str | None = None, **fields: Any) -> Update:
    """A new update, kept on the backend for DescribeUpdate (its id made here unless given)."""
    update = Update(update_id=update_id or str(uuid.uuid4()), **fields)
    _updates(backend)[update.update_id] = update
    return update


def _in_progress(backend: EKSBackend, cluster: str, **target: str | None) -> Update | None:
    for update in _updates(backend).values():
        same = all(getattr(update, k) == v for k, v in target.items())
        if update.cluster == cluster and same and update.view()["status"] == "InProgress":
            return update
    return None


def _by_token(backend: EKSBackend, token: str | None) -> Update | None:
    if not token:
        return None
    return next((u for u in _updates(backend).values() if u.token == token), None)


def _nodegroup(backend: EKSBackend, cluster: str, name: str) -> Any:
    return backend.describe_nodegroup(cluster_name=cluster, nodegroup_name=name)


def _asg_of(backend: EKSBackend, nodegroup: Any) -> Any:
    names = [g["name"] for g in nodegroup.resources.get("autoScalingGroups", [])]
    groups = autoscaling_backends[backend.account_id][backend.region_name].autoscaling_groups
    return groups[names[0]]


def _busy(what: str) -> ResourceInUseException:
    # A second update while one runs: ResourceInUseException, HTTP 409 (EKS API reference,
    # UpdateNodegroupVersion and UpdateAddon errors; DOMAIN.md, facts found by review).
    return ResourceInUseException(
        clusterName=None, nodegroupName=None, fargateProfileName=None, addonName=None,
        message=f"{what} is currently being updated",
    )  # fmt: skip


def _eviction_errors(nodegroup: str, roll: Roll) -> list[dict[str, Any]]:
    return [
        {
            "errorCode": roll.fail,
            "errorMessage": f"Reached max retries while trying to evict pods from nodes in "
            f"node group {nodegroup}",
            "resourceIds": roll.old[:1],
        }
    ]


def _roll_progress(nodegroup: str, roll: Roll) -> Callable[[float], tuple[str, list[Any]]]:
    def progress(now: float) -> tuple[str, list[Any]]:
        status = roll.advance(now)
        return status, (_eviction_errors(nodegroup, roll) if status == "Failed" else [])

    return progress


def update_nodegroup_version(
    self: EKSBackend,
    cluster_name: str,
    nodegroup_name: str,
    launch_template: dict[str, Any] | None,
    token: str | None,
    release_version: str | None = None,
    version: str | None = None,
) -> Update:
    """EKS API reference, UpdateNodegroupVersion: a new launch template version, or a new AMI
    release; without `releaseVersion` a group that runs an EKS optimized AMI moves to the
    latest release of its Kubernetes version (`version` given: the cluster's); a launch
    template with a custom AMI takes neither `releaseVersion` nor `version`."""
    same = _by_token(self, token)
    if same is not None:
        return same
    nodegroup = _nodegroup(self, cluster_name, nodegroup_name)
    if _in_progress(self, cluster_name, nodegroup=nodegroup_name):
        raise _busy(f"Nodegroup {nodegroup_name}")
    current = nodegroup.launch_template or {}
    if launch_template:
        if not current.get("id"):
            raise _invalid(
                "You cannot specify a launch template for a node group that was not created "
                "with one"
            )
        if launch_template.get("id", current["id"]) != current["id"]:
            raise _invalid("The launch template must be the one the node group was created with")
        template_version = str(launch_template.get("version") or current.get("version"))
        found = _ec2(self).describe_launch_templates(template_ids=[current["id"]])[0]
        if int(template_version) not in {v.number for v in found.versions}:
            raise _invalid(f"Launch template version {template_version} does not exist")
    else:
        template_version = str(current.get("version") or "")
    user_data = _template_data(self, current["id"], template_version) if current.get("id") else {}
    asg = _asg_of(self, nodegroup)
    if user_data.get("ImageId"):
        if release_version or version:
            raise _invalid(
                "You cannot specify releaseVersion or version for a node group whose launch "
                "template has a custom AMI"
            )
        nodegroup.release_version = user_data["ImageId"]
        running = {"LaunchTemplateId": current["id"], "Version": template_version}
    else:
        kubernetes = version or nodegroup.version
        release = _release(kubernetes, release_version, nodegroup.release_version)
        nodegroup.version, nodegroup.release_version = kubernetes, release
        base = user_data or {"InstanceType": (nodegroup.instance_types or ["t3.medium"])[0]}
        running = eks_launch_template(self, nodegroup, release, base)
    asg._set_launch_configuration(None, running, None)
    params = [{"type": "ReleaseVersion", "value": nodegroup.release_version}]
    if launch_template:
        current["version"] = template_version
        params = [
            {"type": "LaunchTemplateName", "value": found.name},
            {"type": "LaunchTemplateVersion", "value": template_version},
            *params,
        ]
    roll = Roll(
        group=asg,
        old=[s.instance.id for s in asg.instance_states],
        seconds_per_batch=_seconds(nodegroup.tags),
        fail=_tag(nodegroup.tags, FAIL_TAG),
    )
    return _record(
        self,
        kind="VersionUpdate",
        cluster=cluster_name,
        nodegroup=nodegroup_name,
        params=params,
        progress=_roll_progress(nodegroup_name, roll),
        token=token,
        roll=roll,
    )


def _scaling_wrap() -> None:
    """UpdateNodegroupConfig with a smaller `desiredSize` drains and removes nodes over time
    (moto answers `Successful` at once and keeps every instance)."""
    original = EKSBackend.update_nodegroup_config
    if getattr(original, "_v6migrate", False):
        return

    def update_nodegroup_config(self: EKSBackend, *args: Any, **kwargs: Any) -> dict[str, Any]:
        cluster = kwargs.get("cluster_name") or args[0]
        name = kwargs.get("nodegroup_name") or args[1]
        same = _by_token(self, kwargs.get("client_request_token"))
        if same is not None:
            return same.view()
        if _in_progress(self, cluster, nodegroup=name):
            raise _busy(f"Nodegroup {name}")
        result = original(self, *args, **kwargs)
        nodegroup = _nodegroup(self, cluster, name)
        scaling = kwargs.get("scaling_config") or {}
        asg = _asg_of(self, nodegroup)
        if "minSize" in scaling:
            asg.min_size = int(scaling["minSize"])
        if "maxSize" in scaling:
            asg.max_size = int(scaling["maxSize"])
        desired = scaling.get("desiredSize")
        removed = [s.instance.id for s in asg.instance_states]
        removed = removed[: max(0, len(removed) - int(desired))] if desired is not None else []
        roll = Roll(
            group=asg,
            old=removed,
            seconds_per_batch=_seconds(nodegroup.tags),
            replace=False,
            fail=_tag(nodegroup.tags, FAIL_TAG),
        )
        return _record(
            self,
            update_id=result["id"],
            kind="ConfigUpdate",
            cluster=cluster,
            nodegroup=name,
            params=result["params"],
            progress=_roll_progress(name, roll),
            token=kwargs.get("client_request_token"),
            roll=roll,
        ).view()

    update_nodegroup_config._v6migrate = True  # type: ignore[attr-defined]
    EKSBackend.update_nodegroup_config = update_nodegroup_config  # type: ignore[method-assign]


def update_addon(
    self: EKSBackend,
    cluster_name: str,
    addon_name: str,
    body: dict[str, Any],
) -> Update:
    same = _by_token(self, body.get("clientRequestToken"))
    if same is not None:
        return same
    addon = self.describe_addon(cluster_name, addon_name)  # type: ignore[attr-defined]
    if _in_progress(self, cluster_name, addon=addon_name):
        raise _busy(f"Addon {addon_name}")
    resolve = body.get("resolveConflicts")
    if resolve is not None and resolve not in ("OVERWRITE", "NONE", "PRESERVE"):
        raise _invalid(f"resolveConflicts must be OVERWRITE, NONE or PRESERVE, not {resolve}")
    version = body.get("addonVersion") or addon["addonVersion"]
    if version not in ADDON_CATALOG.get(addon_name, ()):
        # EKS API reference, UpdateAddon errors: InvalidParameterException (the versions on
        # offer are DescribeAddonVersions')
        raise _invalid(f"Addon version specified is not supported: {version}")
    values = body.get("configurationValues")
    validate_configuration(addon_name, version, values or "")
    params = [{"type": "AddonVersion", "value": version}]
    if resolve:
        params.append({"type": "ResolveConflicts", "value": resolve})
    if values is not None:
        params.append({"type": "ConfigurationValues", "value": values})
    fail = _tag(addon.get("tags"), FAIL_TAG)
    started = CLOCK.now()
    addon["status"] = "UPDATING"

    def progress(now: float) -> tuple[str, list[dict[str, Any]]]:
        if now - started < ADDON_UPDATE_SECONDS:
            return "InProgress", []
        addon["status"] = "ACTIVE"
        addon["modifiedAt"] = _wall(started + ADDON_UPDATE_SECONDS)
        if fail:
            return "Failed", [
                {
                    "errorCode": fail,
                    "errorMessage": f"Conflicts found when trying to apply the add-on "
                    f"configuration to {addon_name}",
                    "resourceIds": [addon_name],
                }
            ]
        addon["addonVersion"] = version
        if resolve == "OVERWRITE":
            # Fields changed on the cluster outside EKS go back to the add-on's (EKS user
            # guide, "Determine fields you can customize for Amazon EKS add-ons").
            addon.pop("_v6_out_of_band", None)
        if values is not None:
            if values:
                addon["configurationValues"] = values
            else:
                addon.pop("configurationValues", None)
        return "Successful", []

    return _record(
        self,
        kind="AddonUpdate",
        cluster=cluster_name,
        addon=addon_name,
        params=params,
        progress=progress,
        token=body.get("clientRequestToken"),
    )


def describe_update(
    self: EKSBackend, cluster: str, update_id: str, nodegroup: str | None, addon: str | None
) -> Update:
    update = _updates(self).get(update_id)
    if (
        update is None
        or update.cluster != cluster
        or (update.nodegroup, update.addon)
        != (
            nodegroup,
            addon,
        )
    ):
        raise ResourceNotFoundException(
            clusterName=cluster, nodegroupName=nodegroup, fargateProfileName=None,
            addonName=addon, message=f"No update found for ID: {update_id}",
        )  # fmt: skip
    return update


def _tag_nodegroups_and_addons() -> None:
    """TagResource / ListTagsForResource on node group and add-on ARNs (moto: clusters only)."""
    original = EKSBackend.tag_resource
    if getattr(original, "_v6migrate", False):
        return

    def tag_resource(self: EKSBackend, resource_arn: str, tags: dict[str, str]) -> None:
        for cluster in self.clusters.values():
            for nodegroup in cluster.nodegroups.values():
                if nodegroup.arn == resource_arn:
                    nodegroup.tags = {**(nodegroup.tags or {}), **tags}
                    return
            for addon in _addons(self, cluster.name).values():
                if addon["addonArn"] == resource_arn:
                    addon["tags"] = {**addon.get("tags", {}), **tags}
                    return
        original(self, resource_arn, tags)

    tag_resource._v6migrate = True  # type: ignore[attr-defined]
    EKSBackend.tag_resource = tag_resource  # type: ignore[method-assign]


def _progress_on_describe() -> None:
    """Updates progress with time, whoever looks: describing the add-on or a node group moves
    the cluster's updates on as DescribeUpdate does."""
    for name in ("describe_addon", "describe_nodegroup"):
        original = getattr(EKSBackend, name, None)
        if original is None or getattr(original, "_v6migrate_tick", False):
            continue

        def describe(self: EKSBackend, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            for update in list(_updates(self).values()):
                update.view()
            found = _original(self, *args, **kwargs)
            if hasattr(found, "nodegroup_name"):
                # EKS API reference, Nodegroup.status: CREATING until its nodes have joined,
                # UPDATING while an update of it runs.
                busy = _in_progress(self, found.cluster_name, nodegroup=found.nodegroup_name)
                if settling(getattr(found, "_v6_created", None), "nodegroup-creating"):
                    found.status = "CREATING"
                elif busy is not None or found.status in ("UPDATING", "CREATING"):
                    found.status = "UPDATING" if busy is not None else "ACTIVE"
            return found

        describe._v6migrate_tick = True  # type: ignore[attr-defined]
        setattr(EKSBackend, name, describe)


def eks_updates() -> None:
    """UpdateAddon, UpdateNodegroupVersion, DescribeUpdate; UpdateNodegroupConfig that drains."""
    if hasattr(EKSResponse, "update_addon"):
        return
    for path in (
        "/addons/(?P<addonName>[^/]+)/update$",
        "/node-groups/(?P<nodegroupName>[^/]+)/update-version$",
        "/updates/(?P<updateId>[^/]+)$",
        "/updates$",
    ):
        eks_urls.url_paths["{0}/clusters/(?P<name>[^/]+)" + path] = EKSResponse.dispatch
    _scaling_wrap()
    _tag_nodegroups_and_addons()
    _progress_on_describe()

    def r_update_addon(self: EKSResponse) -> ActionResult:
        update = update_addon(
            self.eks_backend, self._get_param("name"), self._get_param("addonName"), _body(self)
        )
        return ActionResult({"update": update.view()})

    def r_update_nodegroup_version(self: EKSResponse) -> ActionResult:
        body = _body(self)
        update = update_nodegroup_version(
            self.eks_backend,
            self._get_param("name"),
            self._get_param("nodegroupName"),
            body.get("launchTemplate"),
            body.get("clientRequestToken"),
            body.get("releaseVersion"),
            body.get("version"),
        )
        return ActionResult({"update": update.view()})

    def r_describe_update(self: EKSResponse) -> ActionResult:
        update = describe_update(
            self.eks_backend,
            self._get_param("name"),
            self._get_param("updateId"),
            self._get_param("nodegroupName"),
            self._get_param("addonName"),
        )
        return ActionResult({"update": update.view()})

    def r_list_updates(self: EKSResponse) -> ActionResult:
        # EKS API reference, ListUpdates: the cluster's own updates, or one node group's or
        # add-on's; oldest first (paged by gaps/paging.py)
        cluster = self._get_param("name")
        nodegroup, addon = self._get_param("nodegroupName"), self._get_param("addonName")
        if cluster not in self.eks_backend.clusters:
            raise ResourceNotFoundException(
                clusterName=cluster, nodegroupName=None, fargateProfileName=None,
                addonName=None, message=f"No cluster found for name: {cluster}.",
            )  # fmt: skip
        ids = [
            update_id
            for update_id, update in _updates(self.eks_backend).items()
            if update.cluster == cluster and (update.nodegroup, update.addon) == (nodegroup, addon)
        ]
        return ActionResult({"updateIds": ids})

    EKSResponse.list_updates = r_list_updates  # type: ignore[attr-defined]
    EKSResponse.update_addon = r_update_addon  # type: ignore[attr-defined]
    EKSResponse.update_nodegroup_version = r_update_nodegroup_version  # type: ignore[attr-defined]
    EKSResponse.describe_update = r_describe_update  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- instance refresh


# Auto Scaling user guide, instance refresh: with ScaleInProtectedInstances=Wait (the default)
# a refresh that reaches instances protected from scale in waits for the protection to go, and
# fails after an hour.
PROTECTED_WAIT_SECONDS = 3600.0


@dataclass
class Refresh:
    refresh_id: str
    group_name: str
    preferences: dict[str, Any]
    roll: Roll
    protected: list[str] = field(default_factory=list)  # waited for (preference Wait)
    cancelled: float | None = None  # when CancelInstanceRefresh stopped it

    def cancel(self) -> None:
        with _lock:
            now = CLOCK.now()
            self.roll.advance(now)  # what was replaced by now stays replaced
            self.cancelled = now
            self.roll.status, self.roll.ended = "Cancelled", now

    def _waiting(self, now: float) -> str | None:
        """The status while protected instances hold the refresh, or None once they do not."""
        still = [
            s.instance.id for s in self.roll.group.instance_states
            if s.instance.id in self.protected and s.protected_from_scale_in
        ]  # fmt: skip
        if not still or self.roll.ended is None:
            return None
        if now - self.roll.ended < PROTECTED_WAIT_SECONDS:
            return "InProgress"
        return "Failed"

    def view(self) -> dict[str, Any]:
        with _lock:
            now = CLOCK.now()
            status = self.roll.advance(now)
            if status == "Cancelled" and settling(self.cancelled, "refresh-cancelling"):
                status = "Cancelling"
            if status == "Successful" and self.protected:
                status = self._waiting(now) or self._release_protected(now)
        total = len(self.roll.old)
        view: dict[str, Any] = {
            "InstanceRefreshId": self.refresh_id,
            "AutoScalingGroupName": self.group_name,
            "Status": status,
            "StartTime": _wall(self.roll.started),
            "PercentageComplete": 100 if not total else int(100 * self.roll.done / total),
            "InstancesToUpdate": total - self.roll.done,
            "Preferences": self.preferences,
        }
        if self.roll.ended is not None:
            view["EndTime"] = _wall(self.roll.ended)
        if status == "Failed" and self.protected and self.roll.status == "Successful":
            view["StatusReason"] = (
                f"Instance refresh failed: instances in {self.group_name} are protected from "
                "scale in and ScaleInProtectedInstances is Wait"
            )
        elif status == "Failed":
            view["StatusReason"] = (
                f"Instance refresh failed: replacement instances in {self.group_name} did not "
                "pass their health checks"
            )
        elif status == "InProgress" and self.roll.status == "Successful":
            view["StatusReason"] = "Waiting for instances protected from scale in"
        return view

    def _release_protected(self, now: float) -> str:
        """Protection removed while waiting: the held instances are replaced now."""
        for instance_id in list(self.protected):
            if any(s.instance.id == instance_id for s in self.roll.group.instance_states):
                self.roll._step(instance_id)
        self.protected.clear()
        return "Successful"


def _refreshes(backend: Any) -> dict[str, list[Refresh]]:
    store: dict[str, list[Refresh]] = backend.__dict__.setdefault("_v6_refreshes", {})
    return store


def _asg(backend: Any, name: str) -> Any:
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - {name}")
    return group


def instance_refresh() -> None:
    """StartInstanceRefresh and DescribeInstanceRefreshes (moto has neither)."""
    if hasattr(AutoScalingResponse, "start_instance_refresh"):
        return

    def r_start(self: AutoScalingResponse) -> ActionResult:
        backend = self.autoscaling_backend
        name = self._get_param("AutoScalingGroupName")
        group = _asg(backend, name)
        history = _refreshes(backend).setdefault(name, [])
        if any(r.view()["Status"] in ("Pending", "InProgress") for r in history):
            raise AutoscalingClientError(
                "InstanceRefreshInProgress",
                f"An Instance Refresh is already in progress and blocks the execution of "
                f"this Instance Refresh on {name}.",
            )
        preferences = self._get_param("Preferences", {}) or {}
        healthy = int(preferences.get("MinHealthyPercentage", 90))
        skip = str(preferences.get("SkipMatching", "false")).lower() == "true"
        if not 0 <= healthy <= 100:
            raise ValidationError("MinHealthyPercentage must be between 0 and 100")
        protection = str(preferences.get("ScaleInProtectedInstances") or "Wait")
        if protection not in ("Refresh", "Ignore", "Wait"):
            raise ValidationError("ScaleInProtectedInstances must be Refresh, Ignore or Wait")
        tags = {t["Key"]: t["Value"] for t in group.tags}
        everyone = [] if skip else [s for s in group.instance_states]
        held = [s.instance.id for s in everyone if s.protected_from_scale_in]
        old = [
            s.instance.id for s in everyone
            if protection == "Refresh" or not s.protected_from_scale_in
        ]  # fmt: skip
        roll = Roll(
            group=group,
            old=old,
            seconds_per_batch=_seconds(tags),
            batch=max(1, math.floor(len(old) * (100 - healthy) / 100)),
            fail=_tag(tags, FAIL_TAG),
        )
        refresh = Refresh(
            str(uuid.uuid4()),
            name,
            {"MinHealthyPercentage": healthy, "SkipMatching": skip,
             "ScaleInProtectedInstances": protection},
            roll,
            protected=held if protection == "Wait" else [],
        )  # fmt: skip
        history.append(refresh)
        return ActionResult({"InstanceRefreshId": refresh.refresh_id})

    def r_describe(self: AutoScalingResponse) -> ActionResult:
        backend = self.autoscaling_backend
        name = self._get_param("AutoScalingGroupName")
        _asg(backend, name)
        wanted = set(self._get_param("InstanceRefreshIds", []) or [])
        found = [
            r.view()
            for r in reversed(_refreshes(backend).get(name, []))
            if not wanted or r.refresh_id in wanted
        ]
        # Pages (Auto Scaling API reference, DescribeInstanceRefreshes): MaxRecords 1-100,
        # default 50; a NextToken it did not issue for this group is InvalidNextToken.
        asked = self._get_param("MaxRecords")
        limit = 50 if asked in (None, "") else int(asked)
        if not 1 <= limit <= 100:
            raise ValidationError(f"MaxRecords {limit} is not between 1 and 100")
        if page_size() is not None:
            limit = min(limit, int(page_size() or limit))
        token = self._get_param("NextToken")
        start = 0
        if token:
            prefix, _, offset = str(token).rpartition(":")
            if prefix != f"refreshes:{name}" or not offset.isdigit():
                raise AutoscalingClientError("InvalidNextToken", "The token is not valid.")
            start = int(offset)
        result: dict[str, Any] = {"InstanceRefreshes": found[start : start + limit]}
        if start + limit < len(found):
            result["NextToken"] = f"refreshes:{name}:{start + limit}"
        return ActionResult(result)

    def r_cancel(self: AutoScalingResponse) -> ActionResult:
        """Auto Scaling API reference, CancelInstanceRefresh: the refresh in progress stops
        (Cancelling, then Cancelled); instances already replaced stay. None in progress:
        ActiveInstanceRefreshNotFound."""
        backend = self.autoscaling_backend
        name = self._get_param("AutoScalingGroupName")
        _asg(backend, name)
        live = [
            r for r in _refreshes(backend).get(name, [])
            if r.view()["Status"] in ("Pending", "InProgress")
        ]  # fmt: skip
        if not live:
            raise AutoscalingClientError(
                "ActiveInstanceRefreshNotFound",
                f"No in progress or pending Instance Refresh found for Auto Scaling group {name}",
            )
        live[0].cancel()
        return ActionResult({"InstanceRefreshId": live[0].refresh_id})

    AutoScalingResponse.cancel_instance_refresh = r_cancel  # type: ignore[attr-defined]
    AutoScalingResponse.start_instance_refresh = r_start  # type: ignore[attr-defined]
    AutoScalingResponse.describe_instance_refreshes = r_describe  # type: ignore[attr-defined]
