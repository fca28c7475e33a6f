"""The README's path, as a new user takes it: `v6migrate local serve` started with a clean
environment, the CLI in other processes with only what serve told them to export.

Nothing here sets a Powertools variable: the functions get their settings from template.yaml,
whatever the serving process imported first (issue 27, item 1)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.seed import ESTATES, EXTERNAL_ID, TARGET_ROLE

BIN = Path(sys.executable).parent
SMALL = ESTATES["small"]


def _clean(**extra: str) -> dict[str, str]:
    """A new shell's environment: a PATH and a HOME, nothing of AWS or Powertools."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
            **extra}  # fmt: skip


@dataclass
class Served:
    process: subprocess.Popen[str]
    exports: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "v6migrate"), *args], env=_clean(**{**self.exports, **extra}),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    def client(self, service: str, keys: dict[str, str] | None = None) -> Any:
        """This test's own client of the served AWS (explicit, nothing set process-wide), with
        the keys serve printed or the given ones."""
        keys = keys or self.exports
        return boto3.client(
            service, endpoint_url=self.exports["AWS_ENDPOINT_URL"],
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=keys.get("AWS_SESSION_TOKEN"), region_name=self.exports["AWS_REGION"],
        )  # fmt: skip

    def assume(self, role_arn: str, name: str, **options: str) -> dict[str, str]:
        """The keys of a session of `role_arn`, as a shell would export them."""
        keys = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=name, **options)[
            "Credentials"
        ]
        return {
            "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
            "AWS_SESSION_TOKEN": keys["SessionToken"],
        }

    def logs(self) -> list[dict[str, Any]]:
        """The functions' JSON log lines serve printed (on AWS, their log group)."""
        found = []
        for line in list(self.lines):
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
        return found


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    process = subprocess.Popen(
        [str(BIN / "v6migrate"), "local", "serve", "--estate", "small"],
        env=_clean(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    serving = Served(process)
    ready = threading.Event()

    def read() -> None:  # drained for ever: a full pipe would stop the server
        assert process.stdout is not None
        for line in process.stdout:
            serving.lines.append(line.rstrip("\n"))
            if line.startswith("export "):
                serving.exports = dict(
                    part.split("=", 1) for part in line.split()[1:] if "=" in part
                )
            if line.startswith("endpoint: "):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(120), "local serve printed no endpoint:\n" + "\n".join(serving.lines)
        yield serving
    finally:
        process.terminate()
        process.wait(timeout=30)


def _approver(served: Served) -> tuple[str, dict[str, str]]:
    """A role of the tooling account a second person uses, and one session of it (its keys)."""
    iam = served.client("iam")
    account = served.client("sts").get_caller_identity()["Account"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}  # fmt: skip
    role = iam.create_role(RoleName="platform-approver", AssumeRolePolicyDocument=json.dumps(trust))
    return role["Role"]["Arn"], served.assume(role["Role"]["Arn"], "bob")


def _stray_node(served: Served) -> str:
    """A node joined by hand outside any node group: no rollout gives it IPv6, so validation
    fails and the run compensates (plain EC2 calls in the cluster's account)."""
    keys = served.assume(f"arn:aws:iam::{SMALL.account_id}:role/{TARGET_ROLE}", "operator",
                         ExternalId=EXTERNAL_ID)  # fmt: skip
    ec2 = served.client("ec2", keys)
    subnet = ec2.describe_subnets(
        Filters=[{"Name": "tag:Name", "Values": [f"{SMALL.cluster}-private-0"]}]
    )["Subnets"][0]["SubnetId"]
    return str(ec2.run_instances(
        ImageId="ami-0eks0node0image0sim", InstanceType="m6g.large", MinCount=1, MaxCount=1,
        SubnetId=subnet, TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": f"kubernetes.io/cluster/{SMALL.cluster}", "Value": "owned"}]}],
    )["Instances"][0]["InstanceId"])  # fmt: skip


def test_serve_and_the_cli_plan_apply_with_approval_status_and_roll_back(served: Served) -> None:
    where = ["--cluster", SMALL.cluster, "--account", SMALL.account_id, "--region", SMALL.region]
    # Given what serve told the user to export, and nothing else
    assert set(served.exports) == {
        "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
        "AWS_DEFAULT_REGION",
    }  # fmt: skip
    # When the README's dry run is started and followed
    planned = served.cli("start", *where, "--mode", "plan", "--follow")
    # Then it plans (it failed with "Must contain a metric namespace" before)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "-> PlanReady" in planned.stdout
    # When an apply run that a second person must approve is started, with a node outside any
    # node group that the operator promised to replace and did not
    approver, approver_keys = _approver(served)
    _stray_node(served)
    applying = subprocess.Popen(
        [str(BIN / "v6migrate"), "start", *where, "--mode", "apply", "--approver", approver,
         "--options", json.dumps({"nodes_outside_groups": "validate"}), "--follow"],
        env=_clean(**served.exports), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert applying.stdout is not None
    shown: list[str] = []
    approval_id = None
    for line in applying.stdout:
        shown.append(line)
        found = re.search(r"waiting for approval (\S+):", line)
        if found:
            approval_id = found.group(1)
            break
    assert approval_id, "".join(shown)
    # and the approver approves it from their own shell
    approved = served.cli("approve", approval_id, **approver_keys)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    rest, errors = applying.communicate(timeout=300)
    out = "".join(shown) + rest
    # Then the run applies, fails validation on that node, and compensates to the end
    assert applying.returncode != 0, out + errors
    for state in ("VpcDualStack", "NodeRolloutSucceeded", "Validate", "Rollback"):
        assert f"-> {state}" in out, out
    [migration_id] = re.findall(r"started arn:\S+:execution:\S+:(\S+)", out)
    # And `status` tells what happened, from another process
    status = served.cli("status", migration_id, "--output", "json")
    report = json.loads(status.stdout)
    assert report["status"] == "FAILED"
    assert report["changes"]["vpc"].get("reverted", 0) > 0, report["changes"]
    # And every function logged under the template's service name, as itself
    logs = served.logs()
    assert logs, "no function logged"
    assert {line.get("service") for line in logs if "level" in line} == {"v6migrate"}
    # and its metrics under the template's namespace (EMF: CloudWatch reads them from the logs)
    namespaces = {d["Namespace"] for line in logs for d in line.get("_aws", {}).get(
        "CloudWatchMetrics", [])}  # fmt: skip
    assert namespaces == {"v6migrate"}
    by_message = {(line["message"], line.get("function_name")) for line in logs if "level" in line}
    preflight = "v6migrate-PreflightFunction"
    assert ("plan made", preflight) in by_message, by_message
    assert all(name == preflight for message, name in by_message if message == "plan made")


def test_a_plain_boto3_script_runs_with_what_serve_says_to_export(served: Served) -> None:
    """The README: "the embedded AWS for your own tools (any boto3 program or the AWS CLI)".
    boto3 takes its Region from AWS_DEFAULT_REGION (botocore's config variables), not from
    AWS_REGION alone: with only that exported, a script failed NoRegionError."""
    script = "import boto3; print(len(boto3.client('stepfunctions').list_state_machines()" \
        "['stateMachines']))"  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script], env=_clean(**served.exports),
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip()) >= 2  # the migration and wave state machines
