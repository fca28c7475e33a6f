"""The fault matrix: fail at every mutating call of a migration, in turn, on every service.

For each point the estate is built afresh, the migration state machine runs in apply mode with
a fault at exactly that call, compensation runs, and a normalised snapshot of everything the
workflow touches is compared with the snapshot taken before the run. Two kinds of point:

- `before`: the call is refused (InjectedFault) and never happens;
- `after`: AWS carries the call out and only then answers with an error, as when the function
  dies between the call and journaling `applied` (compensation must find the effect itself).

Mutating calls of EC2, Cloud WAN, EKS, Auto Scaling and Elastic Load Balancing count. A point
is restored when the run failed, compensation ended, and the estate is as before except what
the rollback reported kept (its `Migration Rolled Back` event), and that only as the design
keeps it: the VPC's Amazon-provided /56 (its association and the local routes AWS adds for it)
and the nodes of node groups already rolled (their instances and addresses; not cycled back,
so the free IPv4 count and the groups' launch template versions and sizes are left out). Any
other change kept, a /56 added and not reported, a block removed, or a node group's instances
changed without its roll kept fails the point. Interfaces and instances the run does not own
(requester-managed ones, other teams') must be identical, with their IPv6 addresses, and no
access entry may be left.

    .venv/bin/python bench/fault_matrix.py [--estate small|realistic] [--kind before|after|both]
                                           [--points 1,5,30]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, NamedTuple

import boto3

from local import faults
from local.deploy import Deployment, deploy, drain, local_parameters
from local.gaps.ec2_ipv6 import without_default_ipv6_rules
from local.seed import ESTATES, PEER_ACCOUNT, EstateSpec, seed, target_session
from local.server import EmbeddedAws
from tooling.demo import DECISIONS, foreign_interfaces
from v6migrate.aws import NETWORK_MANAGER_REGION, clients_for
from v6migrate.discover import discover
from v6migrate.render import replacement_name

SPEC: EstateSpec = ESTATES["small"]


def _live(associations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in associations if a["Ipv6CidrBlockState"]["State"] != "disassociated"]


class Snapshot(NamedTuple):
    normal: dict[str, Any]  # must be identical after a restored point
    blocks: list[str]  # the VPC's IPv6 blocks
    nodes: dict[str, list[Any]]  # node group -> its instances, subnets and IPv6 addresses


def snapshot(session: boto3.Session, ids: dict[str, Any]) -> Snapshot:
    """Everything the run may touch in the estate, normalised."""
    target = target_session(SPEC.region, SPEC.account_id, session)
    ec2 = target.client("ec2")
    vpc_id = ids["vpc_id"]
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    vpc = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    blocks = sorted(a["Ipv6CidrBlock"] for a in _live(vpc.get("Ipv6CidrBlockAssociationSet", [])))
    vpc.pop("Ipv6CidrBlockAssociationSet", None)
    subnets = ec2.describe_subnets(Filters=by_vpc)["Subnets"]
    for subnet in subnets:
        subnet["Ipv6CidrBlockAssociationSet"] = _live(subnet.get("Ipv6CidrBlockAssociationSet", []))
        # Rolled nodes are kept on rollback (by design: not cycled back), and a replacement
        # node group may have added one: the free IPv4 count follows the instances, not us.
        subnet.pop("AvailableIpAddressCount", None)
    tables = ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]
    for table in tables:
        table["Routes"] = [
            r for r in table["Routes"]
            if not (r.get("GatewayId") == "local" and r.get("DestinationIpv6CidrBlock") in blocks)
        ]  # fmt: skip
    # The peer's side of the peering, in its own account, is touched too.
    peer = target_session(SPEC.region, PEER_ACCOUNT, session).client("ec2")
    peer_tables = peer.describe_route_tables(RouteTableIds=[ids["peer_route_table"]])["RouteTables"]
    manager = target.client("networkmanager", region_name=NETWORK_MANAGER_REGION)
    wan = manager.get_vpc_attachment(AttachmentId=ids["cloud_wan_attachment"])["VpcAttachment"]
    eks = target.client("eks")
    clients = clients_for(target, SPEC.account_id, SPEC.region)
    groups = {
        name: {
            key: eks.describe_nodegroup(clusterName=SPEC.cluster, nodegroupName=name)[
                "nodegroup"
            ].get(key)
            for key in ("releaseVersion", "status")
        }
        for name in eks.list_nodegroups(clusterName=SPEC.cluster)["nodegroups"]
        if name in {g.name for g in SPEC.nodegroups}
    }
    elbv2 = target.client("elbv2")
    normal = {
        "foreign_interfaces": foreign_interfaces(clients, ids),
        "access_entries": eks.list_access_entries(clusterName=SPEC.cluster)["accessEntries"],
        "nodegroups": groups,
        "load_balancers": sorted(
            (b["LoadBalancerName"], b.get("IpAddressType"))
            for b in elbv2.describe_load_balancers()["LoadBalancers"]
        ),
        "endpoints": sorted(
            (e["VpcEndpointId"], e.get("IpAddressType"))
            for e in ec2.describe_vpc_endpoints(Filters=by_vpc)["VpcEndpoints"]
        ),
        "vpc": vpc,
        "subnets": subnets,
        "routes": tables,
        "peer_routes": peer_tables,
        "groups": ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"],
        "acls": [
            without_default_ipv6_rules(a)
            for a in ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"]
        ],
        "tgw": ec2.describe_transit_gateway_vpc_attachments(Filters=by_vpc)[
            "TransitGatewayVpcAttachments"
        ],
        "eigw": [
            g
            for g in ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]
            if any(a["VpcId"] == vpc_id for a in g.get("Attachments", []))
        ],
        "cloud_wan": {"options": wan["Options"], "state": wan["Attachment"]["State"]},
        "addon": target.client("eks").describe_addon(clusterName=SPEC.cluster, addonName="vpc-cni")[
            "addon"
        ]["configurationValues"],
    }
    nodes: dict[str, list[Any]] = {}
    for node in discover(clients, SPEC.cluster).nodes:
        if node.nodegroup:
            nodes.setdefault(node.nodegroup, []).append(
                [node.instance_id, node.subnet_id, sorted(node.ipv6_addresses)]
            )
    return Snapshot(
        json.loads(json.dumps(normal, sort_keys=True, default=str)),
        blocks,
        {group: sorted(found) for group, found in nodes.items()},
    )


def kept_by_rollback(session: boto3.Session, queue_url: str) -> list[str] | None:
    """What the rollback reported kept (its event), or None if it reported nothing."""
    kept = None
    for event in drain(session, queue_url):
        if event.get("detail-type") == "Migration Rolled Back":
            kept = list(event["detail"].get("kept", []))
    return kept


def unexplained(kept: list[str], before: Snapshot, after: Snapshot) -> list[str]:
    """What differs beyond what the rollback kept, and what it kept that the design does not."""
    found = []
    association = [k for k in kept if k.startswith("vpc:associate-vpc-ipv6-cidr:")]
    rolls = {k.removeprefix("nodes:roll-nodegroup:") for k in kept
             if k.startswith("nodes:roll-nodegroup:")}  # fmt: skip
    for other in sorted(
        set(kept) - set(association) - {f"nodes:roll-nodegroup:{r}" for r in rolls}
    ):
        found.append(f"kept {other}: only the /56 and rolled node groups are kept by design")
    added = sorted(set(after.blocks) - set(before.blocks))
    if set(before.blocks) - set(after.blocks):
        found.append(f"IPv6 blocks removed: {sorted(set(before.blocks) - set(after.blocks))}")
    if added and not association:
        found.append(f"IPv6 blocks added and not reported kept: {added}")
    if len(added) > 1:
        found.append(f"more than one /56 added: {added}")
    for group in sorted(set(before.nodes) | set(after.nodes)):
        # a replacement group stands for the group it replaces
        planned = next((g for g in before.nodes if replacement_name(g) == group), group)
        if before.nodes.get(group) != after.nodes.get(group) and planned not in rolls:
            found.append(f"node group {group}: instances or addresses changed, its roll not kept")
    return found


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after)):
            found += differences(before.get(key), after.get(key), f"{path}.{key}")
        return found
    if isinstance(before, list) and isinstance(after, list):
        left = sorted(json.dumps(x, sort_keys=True) for x in before)
        right = sorted(json.dumps(x, sort_keys=True) for x in after)
        return [] if left == right else [f"{path}: {len(before)} -> {len(after)} items differ"]
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]


def main() -> None:
    global SPEC
    parser = argparse.ArgumentParser()
    parser.add_argument("--estate", choices=["small", "realistic"], default="small")
    parser.add_argument("--kind", choices=["before", "after", "both"], default="both")
    parser.add_argument("--points", help="comma-separated fault points (default: all)")
    args = parser.parse_args()
    SPEC = ESTATES[args.estate]
    request = {"cluster": SPEC.cluster, "account_id": SPEC.account_id, "region": SPEC.region,
               "mode": "apply", "approval": {"mode": "none"},
               "options": DECISIONS.get(args.estate, {})}  # fmt: skip
    kinds = ["before", "after"] if args.kind == "both" else [args.kind]
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    with EmbeddedAws() as embedded:

        def fresh() -> tuple[boto3.Session, Deployment, dict[str, Any]]:
            embedded.reset()
            session = embedded.session()
            level = os.environ.get("FAULT_MATRIX_LOG_LEVEL", "WARNING")
            deployment = deploy(session, parameters=local_parameters(level))
            return session, deployment, seed(SPEC, session)

        def run(session: boto3.Session, deployment: Deployment, name: str) -> dict[str, Any]:
            sfn = session.client("stepfunctions")
            arn = sfn.start_execution(
                stateMachineArn=deployment.state_machines["MigrationStateMachine"],
                name=name,
                input=json.dumps(request),
            )["executionArn"]
            while (description := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                time.sleep(0.1)
            return dict(description)

        session, deployment, _ = fresh()
        faults.arm(services=faults.ALL_SERVICES)
        assert run(session, deployment, "matrix-clean")["status"] == "SUCCEEDED"
        calls = faults.mutations()
        faults.disarm()
        points = (
            [int(p) for p in args.points.split(",")] if args.points else range(1, len(calls) + 1)
        )
        print(f"{len(calls)} mutating calls in a clean run of the {args.estate} estate: "
              f"{', '.join(sorted(set(calls)))}")  # fmt: skip
        restored = total = total_differences = 0
        for kind in kinds:
            for point in points:
                session, deployment, ids = fresh()
                before = snapshot(session, ids)
                faults.arm(fail_at=point, after=kind == "after", services=faults.ALL_SERVICES)
                description = run(session, deployment, f"matrix-{kind}-{point}")
                seen = faults.mutations()
                faults.disarm()
                # With node groups rolling in parallel the nth call is not always the clean
                # run's nth: name the call this run failed.
                hit = seen[point - 1] if len(seen) >= point else "(no such call)"
                after = snapshot(session, ids)
                reported = kept_by_rollback(session, deployment.event_queue_url)
                kept = reported or []
                found = differences(before.normal, after.normal) + unexplained(kept, before, after)
                # A fault in Preflight (its temporary access entry) ends the run before any
                # change, with no compensation to run.
                failed = description["status"] == "FAILED" and description["error"] in (
                    "ChangeFailed", "TransientError"
                )  # fmt: skip
                ok = failed and not found
                restored += ok
                total += 1
                total_differences += len(found)
                verdict = "restored" if ok else f"NOT RESTORED ({description.get('error')})"
                if reported is None:
                    kept = ["(no rollback reported)"]
                print(
                    f"{kind:6} {point:3d} ({hit:<40}) {verdict}; "
                    f"kept {kept or 'nothing'}"
                    + (f" [clean run's call {point}: {calls[point - 1]}]"
                       if hit != calls[point - 1] else "")
                )  # fmt: skip
                for line in found:
                    print(f"    {line}")
        summary = (
            f"estate={args.estate} kinds={','.join(kinds)} points={total} restored={restored} "
            f"differences={total_differences}"
        )
        print(f"fault_matrix: {summary}")


if __name__ == "__main__":
    main()
