"""`make demo`: the migration state machine on the small estate, end to end, in the embedded AWS.

Scenarios: `apply` (the dry run, then every stage and the validation report, before/after
network), `fail-attachments` (a fault at the first attachments call), `fail-nodes` (node group
`system` cannot drain: PodEvictionFailure), `fail-validation` (a node outside any node group
keeps no IPv6: its probe pod has no v6if0) -- each showing the compensation and an estate back
to its starting state but for the kept /56 -- and `plan` (the dry run alone).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local import faults, runtime
from local.deploy import Deployment, deploy, drain, local_parameters
from local.gaps.rollouts import FAIL_TAG
from local.seed import ESTATES, seed, target_session
from local.server import EmbeddedAws
from tooling.cli import follow, outcome, start_execution
from v6migrate.aws import clients_for
from v6migrate.discover import discover
from v6migrate.models import ApprovalPolicy, Inventory, MigrationRequest
from v6migrate.render import network_table


def functions_log(name: str) -> Path:
    """Where the functions' JSON logs and metrics go (on AWS, their log group): in the story
    they would drown it."""
    path = Path(tempfile.gettempdir()) / f"v6migrate-{name}-functions.log"
    runtime.function_output(path.open("w", encoding="utf-8", buffering=1))
    return path


SCENARIOS = ("apply", "fail-attachments", "fail-nodes", "fail-validation", "plan")
DEMO_ESTATES = ("small", "realistic")
# What the operator decides when the realistic estate's dry run blocks: its Karpenter node is
# left out of validation (the run cannot give it IPv6). In `fail-validation` they promise to
# replace it during the run instead, and do not: validation holds them to it.
DECISIONS = {"realistic": {"nodes_outside_groups": "exclude"}}


def _inject(
    scenario: str, session: Any, spec: Any, clients: Any, echo: Callable[[str], None]
) -> None:
    """Arrange the failure a scenario shows, the way an operator would meet it on AWS."""
    if scenario == "fail-nodes":
        group = clients.eks.describe_nodegroup(clusterName=spec.cluster, nodegroupName="system")
        clients.eks.tag_resource(
            resourceArn=group["nodegroup"]["nodegroupArn"], tags={FAIL_TAG: "PodEvictionFailure"}
        )
        echo("   node group system will fail to drain (PodEvictionFailure)")
    elif scenario == "fail-validation":
        subnet = clients.ec2.describe_subnets(
            Filters=[{"Name": "tag:Name", "Values": [f"{spec.cluster}-private-0"]}]
        )["Subnets"][0]["SubnetId"]
        stray = clients.ec2.run_instances(
            ImageId="ami-0eks0node0image0sim", InstanceType="m6g.large", MinCount=1, MaxCount=1,
            SubnetId=subnet, TagSpecifications=[{"ResourceType": "instance", "Tags": [
                {"Key": f"kubernetes.io/cluster/{spec.cluster}", "Value": "owned"}]}],
        )["Instances"][0]  # fmt: skip
        echo(
            f"   a node joined by hand, outside any node group: {stray['InstanceId']} "
            f"({stray['PrivateDnsName']}); no rollout will give it IPv6"
        )


def foreign_interfaces(clients: Any, ids: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Interfaces the run does not own (requester-managed ones, and every interface of an
    instance outside the cluster's node groups), with their IPv6 addresses."""
    ours = {n.instance_id for n in discover(clients, ids["cluster"]).nodes if n.nodegroup}
    found = []
    for page in clients.ec2.get_paginator("describe_network_interfaces").paginate(
        Filters=[{"Name": "vpc-id", "Values": [ids["vpc_id"]]}]
    ):
        for eni in page["NetworkInterfaces"]:
            instance = eni.get("Attachment", {}).get("InstanceId")
            if instance in ours:
                continue
            addresses = tuple(sorted(a["Ipv6Address"] for a in eni.get("Ipv6Addresses", [])))
            found.append((eni["NetworkInterfaceId"], eni.get("Description", ""), addresses))
    return sorted(found)


TGW_INTERFACE = "Network Interface for Transit Gateway Attachment"


def _tgw_addresses_aside(
    interfaces: list[tuple[str, str, tuple[str, ...]]],
) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(i, d, () if d.startswith(TGW_INTERFACE) else a) for i, d, a in interfaces]


def _validation(description: dict[str, Any], echo: Callable[[str], None]) -> None:
    state = json.loads(description.get("output") or "{}")
    report = (state.get("validation") or {}).get("report")
    if not report:
        return
    echo(f"   validation {'PASSED' if report['passed'] else 'FAILED'}:")
    for check in report["checks"]:
        echo(f"   {'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")


# V6MIGRATE_DEMO_LOG_LEVEL=DEBUG: the functions' logs at that level, and every event whole
LOG_LEVEL = "V6MIGRATE_DEMO_LOG_LEVEL"


def _events(session: Any, deployment: Deployment, echo: Callable[[str], None]) -> None:
    whole = os.environ.get(LOG_LEVEL, "WARNING") == "DEBUG"
    for event in drain(session, deployment.event_queue_url):
        if whole:
            echo(f"   event {json.dumps(event, default=str)}")
        detail = event["detail"]
        extra = f" error={detail['error']}" if detail.get("error") else ""
        echo(f"   {event['detail-type']:<22} stage={detail.get('stage')}{extra}")


def _approve_when_asked(
    session: Any, deployment: Deployment, execution: str, echo: Callable[[str], None]
) -> Callable[[str], None]:
    """At the Approval state: show what waits for approval, then approve it as
    `v6migrate approve ID` does (a proof of the caller's identity that STS checks)."""
    from tooling.cli import decide
    from v6migrate.journal import Ledger

    def entered(name: str) -> None:
        if name != "Approval":
            return
        dynamodb = session.client("dynamodb")
        ledger = Ledger(dynamodb, f"{deployment.stack_name}-LedgerTable")
        migration_id = execution.rsplit(":", 1)[-1]
        note = ledger.pending_approval(migration_id, timeout=10, poll=0.05)
        if note is None:
            echo("   no approval was asked for")
            return
        approval_id = note["approval_id"]
        echo(f"   the plan waits for approval {approval_id} (plan {note['plan_hash'][:12]}); "
             "nothing has changed yet")  # fmt: skip
        echo(f"   $ v6migrate approve {approval_id}")
        outcome = decide(session, deployment.stack_name, approval_id, "approve")
        echo(f"   approval {approval_id}: {outcome['status']} by {outcome['decided_by']}")

    return entered


def run_demo(
    echo: Callable[[str], None], output: str = "table", scenario: str = "apply",
    estate: str = "small",
) -> int:  # fmt: skip
    started = time.monotonic()
    spec = ESTATES[estate]
    echo("1. Starting the embedded AWS (moto server, Step Functions execution on)")
    echo(f"   the functions' logs and metrics go to {functions_log('demo')}")
    with EmbeddedAws() as embedded:
        session = embedded.session()
        echo(f"   endpoint {embedded.endpoint}")
        echo("2. Deploying template.yaml into it")
        deployment = deploy(
            session, parameters=local_parameters(os.environ.get(LOG_LEVEL, "WARNING"))
        )
        machine = deployment.state_machines["MigrationStateMachine"]
        echo(f"   state machine {machine}")
        echo(f"3. Seeding the {estate} estate in account {spec.account_id} ({spec.region})")
        ids = seed(spec, session)
        echo(
            f"   cluster {ids['cluster']} (IPv4), {ids['vpc_id']}, "
            f"{len(ids['public_subnets'])} public + {len(ids['private_subnets'])} private "
            "subnets, NAT, TGW, peering, Cloud WAN, load balancers, PrivateLink, 3 node groups, "
            "vpc-cni "
            f"{spec.cni_version}"
        )
        clients = clients_for(
            target_session(spec.region, spec.account_id, session), spec.account_id, spec.region
        )

        def current() -> Inventory:
            return discover(clients, spec.cluster)

        before = current()
        foreign_before = foreign_interfaces(clients, ids)
        sfn = session.client("stepfunctions")
        request = MigrationRequest(
            cluster=spec.cluster, account_id=spec.account_id, region=spec.region, mode="plan"
        )
        echo("4. The dry run: StartExecution with mode=plan")
        description = follow(sfn, start_execution(sfn, machine, request))
        code = outcome(description, "plan", output)
        decided = dict(DECISIONS.get(estate, {}))
        if estate != "small" and scenario == "fail-validation":
            decided["nodes_outside_groups"] = "validate"
        if decided and scenario != "plan":
            chosen = ", ".join(f"options.{k}={v}" for k, v in decided.items())
            echo(f"4b. The dry run again, with what the blockers ask the operator: {chosen}")
            request = request.model_copy(
                update={"options": request.options.model_copy(update=decided)}
            )
            description = follow(sfn, start_execution(sfn, machine, request))
            code = outcome(description, "plan", output)
        if scenario != "plan" and code == 0:
            applying = request.model_copy(update={"mode": "apply"})
            if scenario == "fail-attachments":
                counts = json.loads(description["output"])["counts"]
                faults.arm(fail_at=counts["vpc"] + 1)
                echo(
                    "5. Apply, with a fault injected at the first attachments call "
                    f"(mutating call {counts['vpc'] + 1})"
                )
            else:
                echo(
                    "5. Apply: StartExecution with mode=apply: vpc, attachments, cni, nodes, "
                    "then validation from the AWS APIs and inside the cluster"
                )
                if estate == "small":
                    _inject(scenario, session, spec, clients, echo)
                if scenario == "fail-validation" and estate == "small":
                    # Preflight would block on the stray node; the operator says they will
                    # replace it during the run, and validation holds them to it.
                    options = applying.options.model_copy(
                        update={"nodes_outside_groups": "validate"}
                    )
                    applying = applying.model_copy(update={"options": options})
                    echo("   options.nodes_outside_groups=validate: the operator will replace it")
            # The operator names themself as the approver: one person runs this demo (a
            # real request names the platform team's approvers, the requester not among them)
            me = session.client("sts").get_caller_identity()["Arn"]
            applying = applying.model_copy(
                update={"approval": ApprovalPolicy(approvers=(me,), allow_self_approval=True)}
            )
            execution = start_execution(sfn, machine, applying)
            approve = _approve_when_asked(session, deployment, execution, echo)
            description = follow(sfn, execution, entered=approve)
            faults.disarm()
            code = outcome(description, "apply", output)
            _validation(description, echo)
            after = current()
            echo("6. The estate, before and after (* = changed)")
            echo(network_table(before, after))
            if scenario.startswith("fail-"):
                changed = [
                    line
                    for line in network_table(before, after).splitlines()
                    if line.startswith("*")
                ]
                echo(
                    f"   {len(changed)} row(s) differ after compensation: the VPC's /56 and its "
                    "local routes, kept on purpose (a released Amazon /56 never comes back)."
                )
            if estate != "small":
                foreign_after = foreign_interfaces(clients, ids)
                if not scenario.startswith("fail-"):
                    # The run turned IPv6 on for the TGW attachment, and AWS gives the
                    # attachment's own interfaces an address (EC2 API reference, Ipv6Support)
                    foreign_before, foreign_after = (
                        _tgw_addresses_aside(foreign_before), _tgw_addresses_aside(foreign_after)
                    )  # fmt: skip
                untouched = foreign_after == foreign_before
                echo(
                    "   other teams' and AWS services' interfaces and instances: "
                    + ("untouched" if untouched else "CHANGED")
                )
                for line in sorted(set(foreign_before) ^ set(foreign_after)):
                    echo(f"     {'-' if line in foreign_before else '+'} {line}")
                if not untouched:
                    code = 1
        echo("7. Events on the v6migrate bus")
        _events(session, deployment, echo)
    echo(f"Demo finished in {time.monotonic() - started:.1f}s.")
    if scenario.startswith("fail-"):
        return 0 if description["status"] == "FAILED" else 1
    return code
