"""The cluster stages: the VPC CNI's IPv6 egress and the node rollout. Long operations.

Each handler here starts an operation and returns its id (journaled with the intent), then
`poll` asks AWS how it is going: the state machine calls the stage again after a Wait, so no
Lambda sleeps (DESIGN.md, state machines). Every start is idempotent: EKS updates carry a
`clientRequestToken` made from the migration and the change, and an instance refresh already in
progress is adopted instead of started twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

from v6migrate import cni, kube
from v6migrate.changes import Context, call, error_code, register_long
from v6migrate.errors import ChangeFailed, TransientError, translate
from v6migrate.models import EnableCniIpv6Egress, RollNodegroup
from v6migrate.render import replacement_name

CNI_ADDON = "vpc-cni"


def token(ctx: Context, change_id: str, purpose: str = "apply") -> str:
    """The same request token on every retry of the same step of the same migration."""
    digest = hashlib.sha256(f"{ctx.migration_id}|{change_id}|{purpose}".encode()).hexdigest()
    return digest[:36]


# Auto Scaling API reference, InstanceRefresh.Status: the states in which instances may still
# be launched or terminated.
_REFRESH_LIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")


class Pending(TransientError):
    """A long revert is still running: compensation resumes here on its next call."""


def _eks_update(
    ctx: Context, update_id: str, what: str, nodegroup: str | None = None
) -> tuple[bool, dict[str, Any]]:
    """DescribeUpdate: done when Successful; Failed or Cancelled end the stage, naming `what`."""
    kwargs: dict[str, Any] = {"name": ctx.inventory.cluster.name, "updateId": update_id}
    if nodegroup:
        kwargs["nodegroupName"] = nodegroup
    else:
        kwargs["addonName"] = CNI_ADDON
    update = call(ctx.clients.eks.describe_update, "eks:DescribeUpdate", **kwargs)["update"]
    status = update["status"]
    if status in ("Failed", "Cancelled"):
        errors = "; ".join(
            f"{e.get('errorCode')}: {e.get('errorMessage')}" for e in update.get("errors", [])
        )
        raise ChangeFailed(f"{what}: update {update_id} {status}: {errors or 'no reason given'}")
    return status == "Successful", update


# --------------------------------------------------------------------------- CNI egress


def _schema_check(ctx: Context, version: str, configuration: str) -> None:
    """The merged configuration against the installed version's schema, before UpdateAddon."""
    import jsonschema

    found = call(
        ctx.clients.eks.describe_addon_configuration,
        "eks:DescribeAddonConfiguration",
        addonName=CNI_ADDON,
        addonVersion=version,
    )
    schema = json.loads(found.get("configurationSchema") or "{}")
    try:
        jsonschema.validate(json.loads(configuration), schema)
    except jsonschema.ValidationError as error:
        raise ChangeFailed(
            f"vpc-cni {version}: the merged configuration does not fit the add-on's schema "
            f"({error.message}); nothing was changed"
        ) from error


@contextmanager
def _aws_node(ctx: Context) -> Iterator[kube.Kube]:
    """The cluster's Kubernetes API, with the workflow's role allowed to edit kube-system (a
    self-managed CNI's aws-node) for as long as the block runs."""
    with kube.access(ctx, ("kube-system",)):
        yield kube.connect(ctx)


def _update_addon(
    ctx: Context, change: EnableCniIpv6Egress, values: str, purpose: str
) -> dict[str, Any]:
    found = call(
        ctx.clients.eks.update_addon,
        "eks:UpdateAddon",
        clusterName=ctx.inventory.cluster.name,
        addonName=CNI_ADDON,
        configurationValues=values,
        resolveConflicts=change.resolve_conflicts,
        clientRequestToken=token(ctx, change.change_id, purpose),
    )
    return dict(found["update"])


def _aws_node_rolled_out(ctx: Context, change: EnableCniIpv6Egress, flag: str | None) -> bool:
    """Every aws-node pod runs a template whose ENABLE_V6_EGRESS is `flag` (None: not "true")
    in both containers. A managed add-on needs only view of the cluster for this."""
    with kube.access(ctx, ()) if change.managed else _aws_node(ctx):
        client = kube.connect(ctx)
        env = client.aws_node_env()
        values = [env.get(c, {}).get(cni.FLAG) for c in kube.CONTAINERS]
        matches = all(v == "true" for v in values) if flag else all(v != "true" for v in values)
        return matches and client.aws_node_rolled_out()


@register_long("enable-cni-ipv6-egress")
class CniEgress:
    def before(self, change: EnableCniIpv6Egress, ctx: Context) -> dict[str, Any]:
        if not change.managed:
            with _aws_node(ctx) as client:
                return {"containers": client.aws_node_env()}
        return {
            "configurationValues": ctx.inventory.cni.configuration_values,
            "addonVersion": ctx.inventory.cni.version,
        }

    def start(self, change: EnableCniIpv6Egress, ctx: Context) -> dict[str, Any]:
        if not change.managed:
            with _aws_node(ctx) as client:
                client.set_aws_node_env({cni.FLAG: "true"})
            return {"daemonset": "kube-system/aws-node"}
        # Merge into what is there now (the user may have changed it since the plan).
        current = ctx.inventory.cni.configuration_values
        merged = cni.merge_v6_egress(current)
        version = ctx.inventory.cni.version or ""
        _schema_check(ctx, version, merged)
        update = _update_addon(ctx, change, merged, "apply")
        return {"update_id": update["id"], "configurationValues": merged}

    def poll(
        self, change: EnableCniIpv6Egress, result: dict[str, Any], ctx: Context
    ) -> tuple[bool, dict[str, Any]]:
        if change.managed:
            done, _ = _eks_update(ctx, result["update_id"], "vpc-cni add-on")
            if not done:
                return False, result
        # Either way aws-node's pods are then replaced a few nodes at a time: done once every
        # one runs the flag (an add-on update EKS reports Successful has only changed the
        # DaemonSet).
        return _aws_node_rolled_out(ctx, change, flag="true"), result

    def running(
        self, change: EnableCniIpv6Egress, result: dict[str, Any], ctx: Context
    ) -> str | None:
        """What AWS is still doing for this change's add-on update, or None once it is at rest
        (ended either way): until then EKS refuses another update of the add-on
        (ResourceInUseException), and what the estate shows is not yet its outcome."""
        if not change.managed:
            return None
        cluster = ctx.inventory.cluster.name
        ids = [result["update_id"]] if result.get("update_id") else None
        if ids is None:
            # The answer was lost (the Lambda died after EKS accepted the call): any of the
            # add-on's updates may be it (EKS API reference, ListUpdates with addonName).
            pages = ctx.clients.eks.get_paginator("list_updates").paginate(
                name=cluster, addonName=CNI_ADDON
            )
            try:
                ids = [i for page in pages for i in page.get("updateIds", [])]
            except ClientError as error:
                raise translate(error, "eks:ListUpdates") from error
        for update_id in ids:
            update = call(
                ctx.clients.eks.describe_update, "eks:DescribeUpdate",
                name=cluster, updateId=update_id, addonName=CNI_ADDON,
            )["update"]  # fmt: skip
            if update["status"] == "InProgress":
                return f"vpc-cni add-on: its update {update_id} still runs; restoring it after"
        return None

    def revert(
        self, change: EnableCniIpv6Egress, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        """Restore the previous configurationValues exactly (or the DaemonSet's env)."""
        if not change.managed:
            with _aws_node(ctx) as client:
                client.restore_aws_node_env(before.get("containers", {}), cni.FLAG)
        else:
            previous = before.get("configurationValues", "")
            if ctx.inventory.cni.configuration_values != previous:
                update = _update_addon(ctx, change, previous, "revert")
                done, _ = _eks_update(ctx, update["id"], "vpc-cni add-on (restore)")
                if not done:
                    raise Pending(
                        f"vpc-cni add-on: restoring its configuration (update {update['id']})"
                    )
        # Reverted once every aws-node pod runs without the flag: the network it used goes next.
        if not _aws_node_rolled_out(ctx, change, flag=None):
            raise Pending("aws-node: rolling the restored configuration out to every node")


# --------------------------------------------------------------------------- node rollout


def _nodegroup(ctx: Context, name: str) -> dict[str, Any]:
    found = call(
        ctx.clients.eks.describe_nodegroup,
        "eks:DescribeNodegroup",
        clusterName=ctx.inventory.cluster.name,
        nodegroupName=name,
    )
    return dict(found["nodegroup"])


def _new_template_version(
    ctx: Context, change: RollNodegroup, group: dict[str, Any], purpose: str = "apply"
) -> tuple[str, dict[str, Any]]:
    """A new version of the group's launch template (a new version forces replacement), and
    the data it carries.

    Its data is the current version's (`SourceVersion`: EC2 copies it); if the template pins
    network interfaces, the primary one asks for an IPv6 address, since the subnet's
    auto-assign does not apply then.
    """
    template = group["launchTemplate"]
    ec2 = ctx.clients.ec2
    marker = f"v6migrate {ctx.migration_id}: " + (
        "nodes with IPv6" if purpose == "apply" else "nodes cycled back"
    )
    pages = ec2.get_paginator("describe_launch_template_versions").paginate(
        LaunchTemplateId=template["id"]
    )
    try:
        versions = [v for page in pages for v in page["LaunchTemplateVersions"]]
    except ClientError as error:
        raise translate(error, "ec2:DescribeLaunchTemplateVersions") from error
    for version in versions:
        if version.get("VersionDescription") == marker:
            # made by an earlier try of this step
            return str(version["VersionNumber"]), dict(version.get("LaunchTemplateData") or {})
    source = next(v for v in versions if str(v["VersionNumber"]) == str(template["version"]))
    data: dict[str, Any] = {}
    interfaces = source.get("LaunchTemplateData", {}).get("NetworkInterfaces") or []
    if interfaces:
        data["NetworkInterfaces"] = [
            {**eni, "Ipv6AddressCount": max(1, int(eni.get("Ipv6AddressCount", 0)))}
            if eni.get("DeviceIndex", 0) == 0
            else eni
            for eni in interfaces
        ]
    created = call(
        ec2.create_launch_template_version,
        "ec2:CreateLaunchTemplateVersion",
        LaunchTemplateId=template["id"],
        SourceVersion=str(template["version"]),
        VersionDescription=marker,
        LaunchTemplateData=data,
        ClientToken=token(ctx, change.change_id, f"template-{purpose}"),
    )
    made = created["LaunchTemplateVersion"]
    return str(made["VersionNumber"]), dict(made.get("LaunchTemplateData") or {})


def keep_release(group: dict[str, Any], template_data: dict[str, Any] | None) -> dict[str, Any]:
    """`releaseVersion` for UpdateNodegroupVersion / CreateNodegroup, so that the nodes keep the
    AMI they run: without it EKS moves a group that runs an EKS optimized AMI to the latest
    release, and a group never goes back (EKS API reference, UpdateNodegroupVersion). A launch
    template with its own AMI (`ImageId`) keeps that AMI and must not be given one."""
    if (template_data or {}).get("ImageId") or not group.get("releaseVersion"):
        return {}
    return {"releaseVersion": group["releaseVersion"]}


def _replacement_spec(group: dict[str, Any], name: str) -> dict[str, Any]:
    """CreateNodegroup arguments that copy `group` under a new name, on the same Kubernetes
    version and AMI release (groups without a launch template run EKS optimized AMIs)."""
    copied = {
        key: group[key]
        for key in (
            "scalingConfig", "instanceTypes", "amiType", "nodeRole", "labels", "taints",
            "capacityType", "diskSize", "subnets", "remoteAccess", "updateConfig", "version",
        )
        if group.get(key)
    }  # fmt: skip
    copied.update(keep_release(group, None))
    tags = {k: v for k, v in (group.get("tags") or {}).items() if not k.startswith("aws:")}
    return {
        **copied,
        "nodegroupName": name,
        "tags": {**tags, "v6migrate:replaces": group["nodegroupName"]},
    }


def _refreshes(ctx: Context, group: str) -> Iterator[dict[str, Any]]:
    """Every refresh of the group, page after page: their order is not documented, so a live
    one may come on any page (Auto Scaling API reference, DescribeInstanceRefreshes; botocore
    has no paginator for it, so the token is followed here)."""
    asked: dict[str, Any] = {"AutoScalingGroupName": group}
    while True:
        page = call(
            ctx.clients.autoscaling.describe_instance_refreshes,
            "autoscaling:DescribeInstanceRefreshes", **asked,
        )  # fmt: skip
        yield from page.get("InstanceRefreshes", [])
        if not page.get("NextToken"):
            return
        asked["NextToken"] = page["NextToken"]


def _refresh(ctx: Context, group: str, refresh_id: str) -> tuple[bool, dict[str, Any]]:
    found = call(
        ctx.clients.autoscaling.describe_instance_refreshes,
        "autoscaling:DescribeInstanceRefreshes",
        AutoScalingGroupName=group,
        InstanceRefreshIds=[refresh_id],
    )["InstanceRefreshes"]
    if not found:
        raise ChangeFailed(f"Auto Scaling group {group}: instance refresh {refresh_id} not found")
    status = found[0]["Status"]
    if status in ("Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"):
        reason = found[0].get("StatusReason", "no reason given")
        raise ChangeFailed(f"node group {group}: instance refresh {status}: {reason}")
    return status == "Successful", found[0]


@register_long("roll-nodegroup")
class NodeRoll:
    def before(self, change: RollNodegroup, ctx: Context) -> dict[str, Any]:
        nodes = [n.instance_id for n in ctx.inventory.nodes if n.nodegroup == change.target]
        return {"nodes": nodes}

    def start(self, change: RollNodegroup, ctx: Context) -> dict[str, Any]:
        eks, cluster = ctx.clients.eks, ctx.inventory.cluster.name
        if change.strategy == "instance-refresh":
            asg = change.autoscaling_group or change.target
            try:
                started = ctx.clients.autoscaling.start_instance_refresh(
                    AutoScalingGroupName=asg,
                    Strategy="Rolling",
                    Preferences={
                        "MinHealthyPercentage": change.min_healthy_percentage,
                        "SkipMatching": False,
                        # Every node must get IPv6: protected instances are replaced too, not
                        # waited for (the default, Wait, fails the refresh after an hour).
                        "ScaleInProtectedInstances": "Refresh",
                    },
                )
                return {"refresh_id": started["InstanceRefreshId"], "group": asg}
            except ClientError as error:
                if error_code(error) != "InstanceRefreshInProgress":
                    raise translate(error, f"autoscaling:StartInstanceRefresh {asg}") from error
            live = [r for r in _refreshes(ctx, asg) if r["Status"] in ("Pending", "InProgress")]
            # Ours from an earlier try, or someone else's that replaces the nodes just the same.
            return {"refresh_id": live[0]["InstanceRefreshId"], "group": asg}
        group = _nodegroup(ctx, change.target)
        if change.strategy == "launch-template-version":
            version, data = _new_template_version(ctx, change, group)
            update = call(
                eks.update_nodegroup_version,
                "eks:UpdateNodegroupVersion",
                clusterName=cluster,
                nodegroupName=change.target,
                launchTemplate={"id": group["launchTemplate"]["id"], "version": version},
                clientRequestToken=token(ctx, change.change_id),
                **keep_release(group, data),
            )["update"]
            return {"update_id": update["id"], "launch_template_version": version}
        name = replacement_name(change.target)
        call(
            eks.create_nodegroup,
            "eks:CreateNodegroup",
            ok=("ResourceInUseException",),
            clusterName=cluster,
            clientRequestToken=token(ctx, change.change_id),
            **_replacement_spec(group, name),
        )
        return {"replacement": name, "phase": "create"}

    def poll(
        self, change: RollNodegroup, result: dict[str, Any], ctx: Context
    ) -> tuple[bool, dict[str, Any]]:
        what = f"node group {change.target}"
        if "refresh_id" in result:
            done, _ = _refresh(ctx, result["group"], result["refresh_id"])
            return done, result
        if "update_id" in result:
            done, _ = _eks_update(ctx, result["update_id"], what, nodegroup=change.target)
            if done and result.get("phase") == "drain":
                return self._step_down(change, result, ctx)
            return done, result
        replacement = _nodegroup(ctx, result["replacement"])
        status = replacement["status"]
        if status in ("CREATE_FAILED", "DEGRADED", "DELETING"):
            issues = "; ".join(
                f"{i.get('code')}: {i.get('message')}"
                for i in replacement.get("health", {}).get("issues", [])
            )
            raise ChangeFailed(f"{what}: replacement {result['replacement']} is {status}: {issues}")
        if status != "ACTIVE":
            return False, result
        return self._step_down(change, {**result, "phase": "drain"}, ctx)

    def _step_down(
        self, change: RollNodegroup, result: dict[str, Any], ctx: Context
    ) -> tuple[bool, dict[str, Any]]:
        """Take the old group down one node per update, each waited for: scaling a managed
        group in drains best-effort and forces termination after about 5 minutes, whatever the
        PodDisruptionBudgets say (DOMAIN.md, facts found by review), so one node at a time
        keeps the disruption to one node's pods, which the replacement group already has room
        for. Done when the old group is at zero."""
        old = _nodegroup(ctx, change.target)
        scaling = dict(old.get("scalingConfig") or {})
        desired = int(scaling.get("desiredSize", 0))
        if desired <= 0:
            # The last step's update may still be draining (its answer lost in a crash): done
            # once EKS is (Nodegroup.status UPDATING while an update of it runs).
            return old.get("status") != "UPDATING", result
        update = call(
            ctx.clients.eks.update_nodegroup_config,
            "eks:UpdateNodegroupConfig",
            clusterName=ctx.inventory.cluster.name,
            nodegroupName=change.target,
            scalingConfig={"minSize": 0, "maxSize": max(1, int(scaling.get("maxSize", 1))),
                           "desiredSize": desired - 1},
            clientRequestToken=token(ctx, change.change_id, f"drain-{desired - 1}"),
        )["update"]  # fmt: skip
        return False, {**result, "update_id": update["id"]}

    def rolling(self, change: RollNodegroup, ctx: Context) -> str | None:
        """What AWS is still doing to this group's nodes, read from AWS itself, so that a start
        whose answer was lost counts too (and a refresh or update someone else began, which
        launches nodes just the same); None when the group is at rest."""
        what = f"node group {change.target}: still rolling"
        if change.strategy == "instance-refresh":
            asg = change.autoscaling_group or change.target
            live = [
                r["InstanceRefreshId"] for r in _refreshes(ctx, asg) if r["Status"] in _REFRESH_LIVE
            ]
            return f"{what} (instance refresh {live[0]})" if live else None
        for name in (change.target, replacement_name(change.target)):
            found = call(
                ctx.clients.eks.describe_nodegroup,
                "eks:DescribeNodegroup",
                ok=("ResourceNotFoundException",),
                clusterName=ctx.inventory.cluster.name,
                nodegroupName=name,
            )
            status = (found or {}).get("nodegroup", {}).get("status")
            if status in ("CREATING", "UPDATING"):
                return f"{what} ({name} is {status})"
        return None

    def part_way(self, change: RollNodegroup, before: dict[str, Any], ctx: Context) -> str | None:
        """How far a rollout got that AWS left at rest unfinished (the stage died between its
        steps, or before it saw the end): None if it replaced no node."""
        old = set(before.get("nodes", []))
        groups = {change.target, replacement_name(change.target)}
        now = [n for n in ctx.inventory.nodes if n.nodegroup in groups]
        new = sorted({n.nodegroup or "" for n in now if n.instance_id not in old})
        if not new:
            return None
        added = sum(n.instance_id not in old for n in now)
        left = sum(n.instance_id in old for n in now)
        return (
            f"rolled part way: {added} new node(s) in {', '.join(new)}, {left} of {len(old)} "
            "old node(s) still run; kept as they are, not cycled back"
        )

    def revert(
        self, change: RollNodegroup, before: dict[str, Any], result: dict[str, Any],
        ctx: Context,
    ) -> None:  # fmt: skip
        # Not reversible (models.RollNodegroup): compensation keeps the new nodes, unless the
        # request asks to cycle them (`recycle`).
        return None

    def recycle(
        self, change: RollNodegroup, result: dict[str, Any], state: dict[str, Any], ctx: Context
    ) -> tuple[bool, dict[str, Any]]:
        """Cycle the group's nodes once more (after the CNI flag is off): start, then poll.

        `result` is what the rollout journaled; `state` what an earlier call of this returned.
        Every start is idempotent (tokens, the template version's description, an instance
        refresh in progress adopted), so a crash between a start and its note is harmless.
        """
        what = f"node group {change.target} (cycling back)"
        if "refresh_id" in state:
            done, _ = _refresh(ctx, state["group"], state["refresh_id"])
            return done, state
        if "update_id" in state:
            done, _ = _eks_update(ctx, state["update_id"], what, nodegroup=state["nodegroup"])
            return done, state
        if change.strategy == "instance-refresh":
            started = self.start(change, ctx)  # a refresh replaces every instance again
            return False, started
        nodegroup = result.get("replacement", change.target)
        group = _nodegroup(ctx, nodegroup)
        kwargs: dict[str, Any] = keep_release(group, None)
        if change.strategy == "launch-template-version":
            version, data = _new_template_version(ctx, change, group, purpose="recycle")
            kwargs = keep_release(group, data)
            kwargs["launchTemplate"] = {"id": group["launchTemplate"]["id"], "version": version}
        update = call(
            ctx.clients.eks.update_nodegroup_version,
            "eks:UpdateNodegroupVersion",
            clusterName=ctx.inventory.cluster.name,
            nodegroupName=nodegroup,
            clientRequestToken=token(ctx, change.change_id, "recycle"),
            **kwargs,
        )["update"]
        return False, {"update_id": update["id"], "nodegroup": nodegroup}
