"""The fault matrix: fail at every mutating EC2 / Cloud WAN call of a migration, in turn.

For each point the small estate is built afresh, the migration state machine runs in apply
mode with a fault injected at exactly that call, compensation runs, and a normalised snapshot
of everything the workflow touches is compared with the snapshot taken before the run. The
only differences allowed are the kept /56 (the VPC's IPv6 association and the local routes AWS
adds for it) and the instances of node groups already rolled (kept, not cycled back: the
subnets' free IPv4 count is left out of the snapshot).

    .venv/bin/python bench/fault_matrix.py [--points 1,5,30]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import boto3

from local import faults
from local.deploy import deploy, local_parameters
from local.seed import ESTATES, PEER_ACCOUNT, seed, target_session
from local.server import EmbeddedAws
from v6migrate.aws import NETWORK_MANAGER_REGION

SPEC = ESTATES["small"]
REQUEST = {"cluster": SPEC.cluster, "account_id": SPEC.account_id, "region": SPEC.region,
           "mode": "apply"}  # fmt: skip


def _live(associations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in associations if a["Ipv6CidrBlockState"]["State"] != "disassociated"]


def snapshot(session: boto3.Session, ids: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(normalised describe output, the IPv6 blocks of the VPC) for the estate's VPC."""
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
    normal = {
        "vpc": vpc,
        "subnets": subnets,
        "routes": tables,
        "peer_routes": peer_tables,
        "groups": ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"],
        "acls": ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"],
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
    return json.loads(json.dumps(normal, sort_keys=True, default=str)), blocks


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
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", help="comma-separated fault points (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    with EmbeddedAws() as embedded:

        def fresh() -> tuple[boto3.Session, str, dict[str, Any]]:
            embedded.reset()
            session = embedded.session()
            deployment = deploy(session, parameters=local_parameters("WARNING"))
            return session, deployment.state_machines["MigrationStateMachine"], seed(SPEC, session)

        def run(session: boto3.Session, machine: str, name: str) -> dict[str, Any]:
            sfn = session.client("stepfunctions")
            arn = sfn.start_execution(
                stateMachineArn=machine, name=name, input=json.dumps(REQUEST)
            )["executionArn"]
            while (description := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                time.sleep(0.1)
            return dict(description)

        session, machine, _ = fresh()
        faults.arm()
        assert run(session, machine, "matrix-clean")["status"] == "SUCCEEDED"
        calls = faults.mutations()
        faults.disarm()
        points = (
            [int(p) for p in args.points.split(",")] if args.points else range(1, len(calls) + 1)
        )
        print(f"{len(calls)} mutating calls in a clean run: {', '.join(sorted(set(calls)))}")
        restored = total_differences = 0
        for point in points:
            session, machine, ids = fresh()
            before, _ = snapshot(session, ids)
            faults.arm(fail_at=point)
            description = run(session, machine, f"matrix-{point}")
            faults.disarm()
            after, kept = snapshot(session, ids)
            found = differences(before, after)
            rolled_back = (
                description["status"] == "FAILED" and description["error"] == "ChangeFailed"
            )
            restored += rolled_back and not found
            total_differences += len(found)
            verdict = "restored" if rolled_back and not found else "NOT RESTORED"
            print(f"point {point:3d} ({calls[point - 1]:<36}) {verdict}; kept {kept or 'nothing'}")
            for line in found:
                print(f"    {line}")
        summary = f"points={len(points)} restored={restored} differences={total_differences}"
        print(f"fault_matrix: {summary}")


if __name__ == "__main__":
    main()
