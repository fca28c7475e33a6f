"""The CLI against the embedded AWS, and `local serve` used by another process over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from local.seed import ESTATES, EstateSpec, NodegroupSpec, seed
from tests.integration.conftest import Stack
from tooling.cli import main

SMALL = ESTATES["small"]
BIN = Path(sys.executable).parent


def test_start_follow_shows_each_state_and_prints_the_plan(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(SMALL, stack.session)
    argv = ["start", "--cluster", SMALL.cluster, "--account", SMALL.account_id,
            "--region", SMALL.region, "--mode", "plan", "--follow"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    for state in ("PreflightStarted", "Preflight", "PreflightSucceeded", "PlanReady"):
        assert f"-> {state}\n" in out
    assert "SUCCEEDED" in out
    assert "Stage vpc:" in out


def test_a_blocked_start_says_what_blocks_it(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 29: an apply nobody may approve ended "BlockedError: ... run v6migrate plan to read
    # them", and plan (which takes no approval options) showed none
    seed(SMALL, stack.session)
    argv = ["start", "--cluster", SMALL.cluster, "--account", SMALL.account_id,
            "--region", SMALL.region, "--mode", "apply", "--follow"]  # fmt: skip
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert "BLOCKER approval-without-approvers: the run needs 1 approver(s) and has 0" in out


def test_start_without_a_deployed_state_machine_is_one_line(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["start", "--cluster", "c", "--region", "eu-west-1", "--mode", "plan", "--stack", "nope"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: no state machine named nope-migration")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_endpoint_is_one_line_and_exit_1() -> None:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "V6MIGRATE_MAX_ATTEMPTS": "1",
    }
    done = subprocess.run(
        [str(BIN / "v6migrate"), "plan", "--cluster", "c", "--region", "eu-west-1"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: cannot reach {env['AWS_ENDPOINT_URL']}/"]


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    """`v6migrate local serve --estate none` (and the test's `serve_args`, if any) in its own
    process; yields its endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    extra = list(getattr(request, "param", []))
    process = subprocess.Popen(
        [str(BIN / "v6migrate"), "local", "serve", "--estate", "none", *extra],
        env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        endpoint = None
        while time.monotonic() < deadline and endpoint is None:
            line = process.stdout.readline()
            if line.startswith("endpoint: "):
                endpoint = line.split(" ", 1)[1].strip()
            elif not line and process.poll() is not None:
                break
        assert endpoint, "local serve printed no endpoint"
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=20)


def _client_of(endpoint: str, monkeypatch: pytest.MonkeyPatch, region: str) -> None:
    """This process's AWS clients talk to `local serve` at `endpoint` from now on."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)


def test_an_estate_built_by_another_process_through_the_apis_is_planned(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given `local serve` with no estate, and a different estate built over HTTP by this process
    _client_of(served, monkeypatch, "eu-central-1")
    spec = EstateSpec(
        region="eu-central-1", cluster="payments", vpc_cidr="10.40.0.0/16", azs=2,
        private_subnets=2, public_subnets=2, private_route_tables=2, peering=False,
        cloud_wan=False, nodegroups=(NodegroupSpec(name="web", nodes=1),),
    )  # fmt: skip
    seed(spec, boto3.Session(region_name="eu-central-1"))
    # When the CLI starts the state machine deployed in the tooling Region, in another process
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    done = subprocess.run(
        [str(BIN / "v6migrate"), "start", "--cluster", "payments", "--account", spec.account_id,
         "--region", "eu-central-1", "--mode", "plan", "--follow"],
        env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    # Then the dry run succeeds with that estate's plan
    assert done.returncode == 0, done.stderr
    assert "-> PlanReady" in done.stdout
    assert "roll node group web to a new launch template version" in done.stdout
    # And applying it there makes its VPC and attachments dual-stack
    applied = subprocess.run(
        [str(BIN / "v6migrate"), "start", "--cluster", "payments", "--account", spec.account_id,
         "--region", "eu-central-1", "--mode", "apply", "--no-approval", "--follow"],
        env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for state in ("CniEgressSucceeded", "NodeRolloutSucceeded", "ValidateSucceeded", "Applied"):
        assert f"-> {state}" in applied.stdout


@pytest.mark.parametrize(
    ("scenario", "shows", "estate"),
    [
        ("fail-attachments", "InjectedFault", "small"),
        ("fail-nodes", "node group system: update", "small"),
        ("fail-validation", "no v6if0 in the pod", "small"),
        # The realistic estate: its Karpenter node was to be replaced during the run and was
        # not; the compensation restores what the run changed and nothing it does not own.
        ("fail-validation", "(no node group): pod v6if0", "realistic"),
    ],
)
def test_each_failing_demo_shows_the_failure_and_the_compensation(
    scenario: str, shows: str, estate: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    done = subprocess.run(
        [str(BIN / "v6migrate"), "demo", "--scenario", scenario, "--estate", estate],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert shows in done.stdout
    assert "-> Rollback" in done.stdout
    assert "Migration Rolled Back" in done.stdout
    assert "row(s) differ after compensation" in done.stdout
    changed = [line for line in done.stdout.splitlines() if line.startswith("* ")]
    assert changed
    for line in changed:  # only the kept /56 and the local routes AWS adds for it
        assert "IPv6 block" in line or line.rstrip().endswith("->local"), line
    if estate == "realistic":
        assert "interfaces and instances: untouched" in done.stdout


def test_the_wave_demo_approves_from_slack_and_ends_within_its_tolerance() -> None:
    # issue 11, item 7: three clusters in two accounts, the plan in a Slack message, approved
    # through a signed callback into the API, one cluster failing and compensated
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    done = subprocess.run(
        [str(BIN / "v6migrate"), "demo", "--wave"],
        env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-2000:] + done.stderr[-2000:]
    assert "| [Approve]" in out
    assert "POST /chat/slack/actions -> 200 approved" in out
    assert "Slack message now: Approved by <@U0ALICE>" in out
    assert "-> Rollback" in out
    assert "status succeeded-within-tolerance, approved by slack:" in out
    report = out[out.index("7. The wave's evidence report") :]
    assert report.count("SUCCEEDED") == 2
    assert report.count("FAILED") == 1
    assert "Wave Completed" in out


def _serve(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    return subprocess.Popen(
        [str(BIN / "v6migrate"), "local", "serve", *args],
        env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_serve_on_a_busy_port_says_so_in_one_line_and_exits_1() -> None:
    # Given a port another program listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When `local serve` is asked for it
        process = _serve("--estate", "none", "--port", str(port))
        try:
            out, err = process.communicate(timeout=60)
        finally:
            process.kill()
    # Then it says so in one line, and exits 1 (it used to wait for ever)
    assert process.returncode == 1
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "endpoint:" not in out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_ends_on_a_signal_while_it_seeds_and_once_it_serves(signum: int) -> None:
    for moment in ("seeding", "serving"):
        process = _serve("--estate", "small")
        try:
            assert process.stdout is not None
            wanted = "deployed stack" if moment == "seeding" else "endpoint: "
            deadline = time.monotonic() + 120
            seen = ""
            while time.monotonic() < deadline and not seen.startswith(wanted):
                seen = process.stdout.readline()
                assert seen or process.poll() is None, "local serve ended before it was asked"
            # When the signal comes (while the estate is being built, or once it serves)
            started = time.monotonic()
            process.send_signal(signum)
            out, _ = process.communicate(timeout=30)
            # Then it ends at once, cleanly, without going on to serve
            assert process.returncode == 0, moment
            assert time.monotonic() - started < 10, moment
            if moment == "seeding":
                assert "endpoint:" not in out
        finally:
            process.kill()


@pytest.mark.parametrize("served", [["--page-size", "1", "--throttle", "0.5"]], indirect=True)
def test_serve_pages_and_throttles_every_client_as_asked(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.config import Config
    from botocore.exceptions import ClientError

    # Given `local serve --page-size 1 --throttle 0.5`, and clients of another process
    _client_of(served, monkeypatch, "eu-west-1")
    patient = Config(retries={"mode": "standard", "max_attempts": 20})
    once = Config(retries={"mode": "standard", "max_attempts": 1})
    ec2 = boto3.client("ec2", region_name="eu-west-1", config=patient)
    ec2.create_vpc(CidrBlock="10.1.0.0/16")
    # When they read, retrying, and without retries
    first = ec2.describe_vpcs()
    answers: dict[str, set[tuple[str, int]]] = {}
    for service, read in (
        ("ec2", lambda c: c.describe_vpcs()),
        ("eks", lambda c: c.list_clusters()),
        ("autoscaling", lambda c: c.describe_auto_scaling_groups()),
    ):
        client = boto3.client(service, region_name="eu-west-1", config=once)  # type: ignore[call-overload]
        for _ in range(20):
            try:
                read(client)
            except ClientError as error:
                meta = error.response
                answers.setdefault(service, set()).add(
                    (meta["Error"]["Code"], meta["ResponseMetadata"]["HTTPStatusCode"])
                )
    # Then a page holds one VPC of the two (the default one and ours), with a token
    assert len(first["Vpcs"]) == 1
    assert first["NextToken"]
    # and each service throttles with its own code and status
    assert answers == {
        "ec2": {("RequestLimitExceeded", 503)},
        "eks": {("ThrottlingException", 429)},
        "autoscaling": {("Throttling", 400)},
    }


@pytest.mark.parametrize(
    "served", [["--throttle", "buckets", "--rate", "eks=5@0.5"]], indirect=True
)
def test_serve_throttles_by_buckets_and_at_the_operators_rate(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.config import Config
    from botocore.exceptions import ClientError

    # Given `local serve --throttle buckets --rate eks=5@0.5`, and clients of another process
    _client_of(served, monkeypatch, "eu-central-1")
    once = Config(retries={"mode": "standard", "max_attempts": 1})
    answered: dict[str, int] = {}
    refilled: dict[str, float] = {}
    refused: dict[str, tuple[str, int]] = {}
    for service, read, calls, rate in (
        ("eks", lambda c: c.list_clusters(), 20, 0.5),  # the operator's 5 at 0.5/s
        ("stepfunctions", lambda c: c.list_state_machines(), 200, 5.0),  # published: 100 at 5/s
    ):
        client = boto3.client(service, region_name="eu-central-1", config=once)  # type: ignore[call-overload]
        answered[service] = 0
        began = time.monotonic()
        for _ in range(calls):
            try:
                read(client)
            except ClientError as error:
                meta = error.response
                refused[service] = (
                    meta["Error"]["Code"],
                    meta["ResponseMetadata"]["HTTPStatusCode"],
                )
                break
            answered[service] += 1
        refilled[service] = rate * (time.monotonic() - began)  # it answers in real time
    # Then each takes its bucket, and refuses the next call with its own error
    assert refused == {
        "eks": ("ThrottlingException", 429),
        "stepfunctions": ("ThrottlingException", 400),
    }
    assert 5 <= answered["eks"] <= 5 + refilled["eks"] + 1
    assert 100 <= answered["stepfunctions"] <= 100 + refilled["stepfunctions"] + 1
