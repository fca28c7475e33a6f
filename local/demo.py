"""`make demo`: the migration state machine's dry run on the small estate, end to end."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

from local.deploy import deploy, local_parameters
from local.seed import ESTATES, seed
from local.server import EmbeddedAws
from v6migrate.cli import follow, outcome, start_execution
from v6migrate.models import MigrationRequest


def run_demo(echo: Callable[[str], None], output: str = "table") -> int:
    started = time.monotonic()
    # The functions' JSON logs and metrics would drown the story: keep them for `local serve`.
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    echo("1. Starting the embedded AWS (moto server, Step Functions execution on)")
    with EmbeddedAws() as embedded:
        session = embedded.session()
        echo(f"   endpoint {embedded.endpoint}")
        echo("2. Deploying template.yaml into it")
        deployment = deploy(session, parameters=local_parameters("WARNING"))
        machine = deployment.state_machines["MigrationStateMachine"]
        echo(f"   state machine {machine}")
        spec = ESTATES["small"]
        echo(f"3. Seeding the small estate in account {spec.account_id} ({spec.region})")
        ids = seed(spec, session)
        echo(f"   cluster {ids['cluster']} (IPv4), {ids['vpc_id']}, "
             f"{len(ids['public_subnets'])} public + {len(ids['private_subnets'])} private "
             "subnets, NAT, TGW, peering, Cloud WAN, 3 node groups, vpc-cni "
             f"{spec.cni_version}")  # fmt: skip
        request = MigrationRequest(
            cluster=spec.cluster, account_id=spec.account_id, region=spec.region, mode="plan"
        )
        echo(f"4. StartExecution {json.dumps(request.model_dump(mode='json', exclude_none=True))}")
        sfn = session.client("stepfunctions")
        execution = start_execution(sfn, machine, request)
        echo(f"   {execution}")
        description = follow(sfn, execution)
        echo("5. Result")
        code = outcome(description, "plan", output)
        echo("6. Events on the v6migrate bus")
        sqs = session.client("sqs")
        while True:
            batch = sqs.receive_message(
                QueueUrl=deployment.event_queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                event = json.loads(message["Body"])
                detail = event["detail"]
                echo(
                    f"   {event['detail-type']:<18} stage={detail.get('stage')} "
                    f"cluster={detail.get('cluster')} account={detail.get('account_id')}"
                )
    echo(f"Demo finished in {time.monotonic() - started:.1f}s; nothing in the estate was changed.")
    return code
