"""`v6migrate demo --wave`: a wave of three clusters in two accounts, in the embedded AWS.

The wave's plan goes to Slack (the notify function's message, shown here), an approver presses
Approve (a callback Slack signs, into the REST API), the clusters migrate one after another with
their progress shown, the first one fails on a change and compensates itself while the others
finish within the wave's tolerance, and the wave ends with its evidence report.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from local import faults, runtime
from local.deploy import SLACK_SIGNING_SECRET_NAME, deploy, drain, local_parameters
from local.seed import ESTATES, seed
from local.server import EmbeddedAws
from local.slack import SimulatedSlack, sign
from tooling.api import call
from tooling.cli import history_after
from tooling.demo import functions_log

TAG = {"v6migrate/wave": "demo"}
CLUSTERS = (
    ("222222222222", "orders-prod", "10.20.0.0/16"),
    ("222222222222", "inventory-prod", "10.21.0.0/16"),
    ("333333333333", "payments-prod", "10.23.0.0/16"),
)
APPROVER = "U0ALICE"


def _slack_text(message: dict[str, Any]) -> list[str]:
    """A Block Kit message as a reader sees it: its text and its buttons."""
    lines = []
    for block in message.get("blocks", []):
        text = block.get("text", {}).get("text")
        if text:
            lines += text.splitlines()
        for element in block.get("elements", []):
            if element.get("type") == "button":
                lines.append(f"[{element['text']['text']}]")
    return lines


def _wait_for_event(session: Any, queue: str, kind: str, seen: list[dict[str, Any]]) -> Any:
    for _ in range(300):
        seen.extend(drain(session, queue))
        found = [e for e in seen if e["detail-type"] == kind]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise RuntimeError(f"no {kind} event")


def run_wave_demo(echo: Callable[[str], None]) -> int:
    from v6migrate import notify

    started = time.monotonic()
    echo("1. Starting the embedded AWS and deploying template.yaml into it")
    echo(f"   the functions' logs and metrics go to {functions_log('wave-demo')}")
    with EmbeddedAws() as embedded:
        session = embedded.session()
        deployment = deploy(session, parameters=local_parameters("WARNING"))
        slack = SimulatedSlack().start()
        os.environ["V6MIGRATE_SLACK_RESPONSE_PREFIX"] = slack.url + "/"
        try:
            echo("2. Seeding three clusters in two accounts, tagged for the wave")
            base = ESTATES["small"].model_copy(update={
                "transit_gateway": False, "peering": False, "cloud_wan": False,
                "edges": False, "cluster_tags": TAG})  # fmt: skip
            for account, cluster, cidr in CLUSTERS:
                seed(base.model_copy(update={"account_id": account, "cluster": cluster,
                                             "vpc_cidr": cidr}), session)  # fmt: skip
                echo(f"   {account} {cluster} ({cidr}, IPv4 only)")
            wave = {
                "id": "demo", "regions": ["eu-west-1"],
                "targets": {"accounts": sorted({a for a, _, _ in CLUSTERS}), "cluster_tags": TAG},
                "max_concurrency": 1, "tolerance": {"count": 1},
                "approval": {"approvers": [slack.user(APPROVER)]},
            }  # fmt: skip
            echo("3. The wave: one cluster at a time, one failure tolerated, approved from Slack")
            # Through the REST API, which records its caller as the wave's requester
            runtime.settled()
            started_wave = call(session, deployment.outputs["ApiUrl"], "POST", "/waves",
                                {"wave": wave, "client_token": "demo-wave-once"})  # fmt: skip
            if started_wave.status not in (200, 201):
                raise RuntimeError(f"POST /waves -> {started_wave.status} {started_wave.body}")
            execution = started_wave.body["execution_arn"]
            echo(f"   POST /waves -> {started_wave.status}: run {started_wave.body['run_id']}, "
                 f"requested by {started_wave.body['requested_by']}")  # fmt: skip
            seen: list[dict[str, Any]] = []
            asked = _wait_for_event(session, deployment.event_queue_url, "Approval Requested",
                                    seen)  # fmt: skip
            echo("4. Slack shows the wave's plan (the notify function's message):")
            for line in _slack_text(notify.slack(asked)):
                echo(f"   | {line}")
            approval_id = asked["detail"]["approval_id"]
            # The first cluster's third change will fail: it compensates, the wave goes on
            faults.arm(fail_at=3)
            echo(f"5. {APPROVER} presses Approve: Slack signs the callback into the REST API")
            body, headers = slack.press("v6migrate_approve", approval_id, APPROVER)
            secret = session.client("secretsmanager").get_secret_value(
                SecretId=SLACK_SIGNING_SECRET_NAME
            )["SecretString"]
            runtime.settled()
            answer = call(session, deployment.outputs["ApiUrl"], "POST", "/chat/slack/actions",
                          body, sign=False, headers={**headers, **sign(secret, body)})  # fmt: skip
            echo(f"   POST /chat/slack/actions -> {answer.status} {answer.body['message']}")
            for update in slack.updates:
                echo(f"   Slack message now: {update['text']}")
            echo("6. Progress, cluster by cluster (the child migrations)")
            description = _follow(session, deployment, execution, echo)
            faults.disarm()
            echo("7. The wave's evidence report")
            report = json.loads(description.get("output") or "{}")
            echo(f"   status {report.get('status', description['status'])}, approved by "
                 f"{', '.join(report.get('approved_by', []))}")  # fmt: skip
            for cluster in report.get("clusters", []):
                undone = cluster.get("rolled_back")
                rolled = (f"  rolled back: {undone['reverted']} reverted, "
                          f"{undone['kept']} kept" if undone else "")  # fmt: skip
                echo(f"   {cluster['account_id']} {cluster['cluster']:<16} {cluster['status']:<10}"
                     f" {cluster.get('seconds', '-')}s{rolled}")  # fmt: skip
            echo(f"   counts {report.get('counts')}")
            seen.extend(drain(session, deployment.event_queue_url))
            kinds = [e["detail-type"] for e in seen]
            echo(f"   events: {', '.join(sorted(set(kinds)))}")
        finally:
            faults.disarm()
            slack.stop()
            os.environ.pop("V6MIGRATE_SLACK_RESPONSE_PREFIX", None)
    echo(f"Wave demo finished in {time.monotonic() - started:.1f}s.")
    return 0 if description["status"] == "SUCCEEDED" else 1


def _follow(session: Any, deployment: Any, wave: str, echo: Callable[[str], None]) -> Any:
    """Print each child migration's states as it enters them, until the wave ends."""
    sfn = session.client("stepfunctions")
    machine = deployment.state_machines["MigrationStateMachine"]
    shown: dict[str, int] = {}
    ended: set[str] = set()
    while True:
        for child in sfn.list_executions(stateMachineArn=machine)["executions"]:
            if child["name"] in ended:  # shown to its end already
                continue
            status = sfn.describe_execution(executionArn=child["executionArn"])["status"]
            events = history_after(sfn, child["executionArn"])
            names = [e["stateEnteredEventDetails"]["name"] for e in events
                     if "stateEnteredEventDetails" in e]  # fmt: skip
            new = [n for n in names[shown.get(child["name"], 0) :] if not n.endswith("?")]
            shown[child["name"]] = len(names)
            cluster = child["name"].split("-", 1)[1].rsplit("-", 1)[0]
            if new:
                echo(f"   {cluster:<16} -> {' -> '.join(new)}")
            if status != "RUNNING" and child["name"] not in ended:
                ended.add(child["name"])
                echo(f"   {cluster:<16} {status}")
        description = sfn.describe_execution(executionArn=wave)
        if description["status"] != "RUNNING":
            return description
        time.sleep(0.3)
