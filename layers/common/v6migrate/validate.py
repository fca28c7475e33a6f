"""Validate: prove the migration from the AWS APIs and from inside the cluster.

From AWS: the estate is read afresh and every approved change must be in effect (the planner is
the oracle, as in the stages), plus the promises named one by one: the VPC and subnet blocks
`associated`, auto-assign on, every node's primary ENI with a global IPv6 address, the vpc-cni
configuration with ENABLE_V6_EGRESS in `env` and `init.env`.

From inside the cluster (DOMAIN.md, Kubernetes API from a Lambda), through a temporary access
entry journaled in the ledger and removed after: ENABLE_V6_EGRESS on both aws-node containers,
every node with an IPv6 address, and per node group (and per node outside any group) a probe
pod that must show `v6if0` with an `fd00::ac:` address and whose IPv6 egress must leave from its
node's IPv6 address (the CNI's own end-to-end test checks the same).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from v6migrate import aws, cni, kube
from v6migrate.apply import (
    StageInput,
    _fresh,
    default_ledger,
    seen_by_aws,
    stage_began,
    stage_ended,
)
from v6migrate.changes import Context, wait_until
from v6migrate.discover import primary_interface
from v6migrate.journal import Ledger
from v6migrate.models import Check, MigrationRequest, ValidationReport
from v6migrate.observability import metrics

# The probes run in a namespace of the run's own, made and deleted by it (journaled under
# NAMESPACE_NOTE, so a rollback deletes one a dead validation left), that enforces the Pod
# Security Standards' `restricted` level: the probe pods meet it.
NAMESPACE_NOTE = "probe-namespace"
NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "app.kubernetes.io/managed-by": "v6migrate",
}


def probe_namespace(migration_id: str) -> str:
    return f"v6migrate-probe-{hashlib.sha256(migration_id.encode()).hexdigest()[:8]}"


V6IF0 = re.compile(r"inet6 (fd00::ac:[0-9a-f:]+)/118")


def _aws_checks(
    ctx: Context, approved: list[str], missing: set[str], request: MigrationRequest
) -> list[Check]:
    inventory = ctx.inventory
    excluded = _excluded(ctx, request)
    checks = []
    block = inventory.vpc.ipv6_block
    checks.append(
        Check(
            name="vpc ipv6 block",
            ok=block is not None and block.state == "associated",
            detail=f"{inventory.vpc.vpc_id} {block.cidr if block else 'none'} "
            f"{block.state if block else ''}".strip(),
        )
    )
    bad_subnets = [
        s.subnet_id
        for s in inventory.subnets
        if s.ipv6_state != "associated" or not s.assign_ipv6_on_creation
    ]
    checks.append(
        Check(
            name="subnets ipv6 and auto-assign",
            ok=not bad_subnets,
            detail=", ".join(bad_subnets) or f"{len(inventory.subnets)} subnets",
        )
    )
    counted = [n for n in inventory.nodes if n.instance_id not in excluded]
    bare = [
        f"{n.instance_id} ({n.nodegroup or 'no node group'})"
        for n in counted
        if not n.ipv6_addresses
    ]
    checks.append(
        Check(
            name="nodes with ipv6 on the primary ENI",
            # No node shows nothing: "every node has IPv6" is not proven by an empty estate.
            ok=bool(counted) and not bare,
            detail=", ".join(bare) or (f"{len(counted)} nodes" if counted else "no node found"),
        )
    )
    if excluded:
        checks.append(
            Check(
                name="nodes outside node groups, left out as the request asks",
                ok=True,
                detail=", ".join(sorted(excluded)),
            )
        )
    configuration = cni.parse_configuration(inventory.cni.configuration_values)
    if inventory.cni.managed:
        checks.append(
            Check(
                name="vpc-cni add-on env and init.env",
                ok=cni.egress_enabled(configuration),
                detail=inventory.cni.configuration_values or "(no configurationValues)",
            )
        )
    pending = [change_id for change_id in approved if change_id in missing]
    checks.append(
        Check(
            name="every approved change in effect",
            ok=not pending,
            detail=", ".join(pending[:20]) or f"{len(approved)} changes",
        )
    )
    return checks


def _excluded(ctx: Context, request: MigrationRequest) -> set[str]:
    """Instances outside every node group that the request leaves out of validation."""
    if request.options.nodes_outside_groups != "exclude":
        return set()
    return {n.instance_id for n in ctx.inventory.nodes if n.nodegroup is None}


def _on_fargate(node: dict[str, Any]) -> bool:
    labels = node.get("metadata", {}).get("labels") or {}
    return bool(labels.get("eks.amazonaws.com/compute-type") == "fargate")


def instance_id(node: dict[str, Any]) -> str:
    """The EC2 instance behind a Node: the last part of `spec.providerID`
    (`aws:///<az>/<instance-id>`, as the AWS cloud provider sets it)."""
    return str(node.get("spec", {}).get("providerID", "")).rsplit("/", 1)[-1]


def primary_ipv6(ctx: Context, instance_ids: list[str]) -> dict[str, tuple[str, ...]]:
    """Each instance's IPv6 addresses on its primary network interface (device index 0), read
    from EC2. A Node's `status.addresses` is no source for it: on an IPv4 cluster the AWS cloud
    provider lists IPv4 node addresses only, even when the instance has IPv6 (DOMAIN.md)."""
    wanted = sorted({i for i in instance_ids if i.startswith("i-")})
    found: dict[str, tuple[str, ...]] = {}
    for start in range(0, len(wanted), 200):
        pages = ctx.clients.ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-id", "Values": wanted[start : start + 200]}]
        )
        for page in pages:
            for reservation in page["Reservations"]:
                for instance in reservation.get("Instances", []):
                    found[instance["InstanceId"]] = tuple(
                        str(ipaddress.ip_address(a["Ipv6Address"]))
                        for a in primary_interface(instance).get("Ipv6Addresses", [])
                    )
    return found


def source_ip_like(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _probe_script(url: str) -> str:
    return (
        "ip -6 addr show dev v6if0; "
        f'echo "egress-source: $(wget -q -T 10 -O - {url} || echo failed)"'
    )


def _cluster_checks(
    ctx: Context, request: MigrationRequest, client: kube.Kube, namespace: str
) -> list[Check]:
    checks = []
    env = client.aws_node_env()
    flags = {name: env.get(name, {}).get(cni.FLAG) for name in kube.CONTAINERS}
    checks.append(
        Check(
            name="aws-node ENABLE_V6_EGRESS in both containers",
            ok=all(value == "true" for value in flags.values()),
            detail=", ".join(f"{k}={v}" for k, v in flags.items()),
        )
    )
    daemonset = client.aws_node()
    status = daemonset.get("status") or {}
    desired = int(status.get("desiredNumberScheduled", 0))
    available = int(status.get("numberAvailable", 0))
    updated = int(status.get("updatedNumberScheduled", 0))
    through = kube.rolled_out(daemonset)
    checks.append(
        Check(
            # A CNI that exits on nodes without IPv6 (1.13.0-1.16.2 with the flag on) leaves
            # their pods without a network: every aws-node pod must be running, and running
            # the current template (until the rollout is through, the counts can describe pods
            # without the flag).
            name="aws-node available on every node",
            ok=desired > 0 and through,
            detail=f"{available} of {desired} aws-node pods available, {updated} on the "
            "current template" + ("" if through else " (its rollout is not through)"),
        )
    )
    groups = {n.instance_id: n.nodegroup for n in ctx.inventory.nodes}
    nodes = client.nodes()
    excluded = _excluded(ctx, request)
    fargate = sorted(n["metadata"]["name"] for n in nodes if _on_fargate(n))
    if fargate:
        checks.append(
            Check(
                name="Fargate nodes, left out (no aws-node runs there)",
                ok=True,
                detail=", ".join(fargate),
            )
        )
    nodes = [n for n in nodes if instance_id(n) not in excluded and not _on_fargate(n)]
    ipv6 = primary_ipv6(ctx, [instance_id(node) for node in nodes])
    targets: dict[str, dict[str, Any]] = {}
    for node in nodes:
        instance = instance_id(node)
        group = groups.get(instance)
        key = f"group {group}" if group else f"node {node['metadata']['name']} (no node group)"
        node["_instance"] = instance
        targets.setdefault(key, node)
        if not ipv6.get(instance):
            checks.append(
                Check(
                    name=f"node {node['metadata']['name']} has ipv6",
                    ok=False,
                    detail=f"{instance}: no IPv6 address on its primary network interface",
                )
            )
    checks.append(
        Check(
            name="nodes to probe",
            ok=bool(targets),
            detail=f"{len(targets)} probe pods"
            if targets
            else "the Kubernetes API lists no EC2 node: pods' IPv6 egress cannot be shown",
        )
    )
    seed = hashlib.sha256(ctx.migration_id.encode()).hexdigest()[:8]
    pods = {}
    for index, (key, node) in enumerate(sorted(targets.items())):
        name = f"v6migrate-probe-{seed}-{index}"
        client.run_probe(
            namespace, name, node["metadata"]["name"],
            _probe_script(request.options.probe_url), request.options.probe_image,
        )  # fmt: skip
        pods[name] = (key, node)
    results: dict[str, tuple[str, str]] = {}

    def finished() -> bool:
        for name in pods:
            if name not in results:
                found = client.probe_result(namespace, name)
                if found is not None:
                    results[name] = found
        return len(results) == len(pods)

    try:
        wait_until(finished, "probe pods")
    finally:
        for name in pods:
            client.delete_pod(namespace, name)
    for name, (key, node) in pods.items():
        phase, log = results[name]
        node_name = node["metadata"]["name"]
        lines = [line for line in log.splitlines() if line.strip()]
        why = "" if phase == "Succeeded" else f" ({phase}: {lines[-1] if lines else 'no output'})"
        node_v6 = set(ipv6.get(node["_instance"], ()))
        v6if0 = V6IF0.search(log)
        checks.append(
            Check(
                name=f"{key}: pod v6if0",
                ok=v6if0 is not None,
                detail=f"node {node_name} ({node['_instance']}): "
                + (v6if0.group(1) if v6if0 else f"no v6if0 in the pod{why}"),
            )
        )
        source = re.search(r"egress-source: (\S+)", log)
        answer = source.group(1) if source else "no answer"
        error = re.search(r"^wget: (.+)$", log, re.MULTILINE)
        if error and not source_ip_like(answer):
            answer += f" (wget: {error.group(1)})"
        source_ip = str(ipaddress.ip_address(answer)) if source_ip_like(answer) else ""
        checks.append(
            Check(
                name=f"{key}: ipv6 egress from the node's address",
                ok=bool(source_ip) and source_ip in node_v6,
                detail=f"node {node_name} ({node['_instance']}): left from {answer}, node has "
                f"{', '.join(sorted(node_v6)) or 'no IPv6'}",
            )
        )
    return checks


class RecheckInput(StageInput):
    """A migration that succeeded, checked again after its wave's bake (`recheck: true`)."""

    recheck: bool = False


def run(
    event: StageInput, clients: aws.Clients | None = None, ledger: Ledger | None = None
) -> ValidationReport:
    """The migration's validation; with `recheck`, the same checks and probes again, later (a
    wave's bake): under the cluster's lock, which the migration gave back when it ended (if
    another run holds it now, nothing is checked: MigrationInProgress), noted as `recheck`."""
    recheck = isinstance(event, RecheckInput) and event.recheck
    if not recheck:
        return _validate(event, clients, ledger or default_ledger(), "validate")
    ledger = ledger or default_ledger()
    plan = ledger.plan(event.migration_id)
    ledger.acquire(plan.account_id, plan.region, plan.cluster, event.migration_id)
    try:
        return _validate(event, clients, ledger, "recheck")
    finally:
        ledger.release(plan.account_id, plan.region, plan.cluster, event.migration_id)


def _validate(
    event: StageInput, clients: aws.Clients | None, ledger: Ledger, stage: str
) -> ValidationReport:
    request, migration_id = event.request, event.migration_id
    clients = clients or aws.target_clients(request.account_id, request.region, migration_id)
    began = stage_began(ledger, migration_id, stage)
    approved = [c.change_id for c in ledger.plan(migration_id).changes if seen_by_aws(c)]
    ctx, missing = _fresh(clients, request, migration_id)
    checks = _aws_checks(ctx, approved, missing, request)

    def record(status: str, principal: str) -> None:
        ledger.note(migration_id, "access", {"status": status, "principal": principal})

    earlier = ledger.read_note(migration_id, "access")
    ours_before = earlier is not None and earlier.get("status") == "intent"
    namespace = probe_namespace(migration_id)
    with kube.access(ctx, (namespace,), record=record, ours_before=ours_before) as who:
        client = kube.connect(ctx)
        ledger.note(migration_id, NAMESPACE_NOTE, {"status": "intent", "name": namespace})
        with kube.cluster_admin(ctx, who):
            client.create_namespace(namespace, NAMESPACE_LABELS)
        try:
            checks += _cluster_checks(ctx, request, client, namespace)
        finally:
            with kube.cluster_admin(ctx, who):
                client.delete_namespace(namespace)
            ledger.note(migration_id, NAMESPACE_NOTE, {"status": "deleted", "name": namespace})
    failures = tuple(f"{c.name}: {c.detail}" for c in checks if not c.ok)
    report = ValidationReport(passed=not failures, checks=tuple(checks), failures=failures)
    if stage == "recheck":
        ledger.note(migration_id, "recheck", {"passed": report.passed, "failures": failures})
        name = "RechecksPassed" if report.passed else "RechecksFailed"
    else:
        ledger.note(migration_id, "validation", report.model_dump(mode="json"))
        # the dashboard's "succeeded" (a run that validates is through: only the lock is left)
        name = "MigrationsValidated" if report.passed else "ValidationsFailed"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    stage_ended(ledger, migration_id, stage, began)
    return report
