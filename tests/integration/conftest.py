"""One embedded AWS for the integration tests; every test starts from a reset, deployed stack."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local.deploy import Deployment, deploy, drain, local_parameters
from local.server import EmbeddedAws

# Every Describe and List answers at most this many items a page (AWS may answer fewer than a
# client asks, local/gaps/paging.py), so every paginator in discovery and the changes turns
# pages for real: a read of the first page only misses resources here as it would on AWS.
PAGE_SIZE = 2


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedAws]:
    with EmbeddedAws(page_size=PAGE_SIZE) as server:
        yield server


@dataclass
class Stack:
    server: EmbeddedAws
    session: boto3.Session
    deployment: Deployment

    @property
    def machine(self) -> str:
        return self.deployment.state_machines["MigrationStateMachine"]

    def run(self, request: dict[str, Any], name: str, timeout: float = 240) -> dict[str, Any]:
        """Start an execution (always named) and wait for its end."""
        return self.wait(self.start(request, name), timeout)

    def start(self, request: dict[str, Any], name: str) -> str:
        sfn = self.session.client("stepfunctions")
        arn: str = sfn.start_execution(
            stateMachineArn=self.machine, name=name, input=json.dumps(request)
        )["executionArn"]
        return arn

    def wait(self, execution_arn: str, timeout: float = 240) -> dict[str, Any]:
        sfn = self.session.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if description["status"] != "RUNNING":
                return description
            time.sleep(0.1)
        raise AssertionError(f"execution {execution_arn} still running after {timeout}s")

    def approval_id(self, name: str, after: str | None = None, timeout: float = 60) -> str:
        """The id of the approval execution `name` waits for (a new one, if `after` is the
        earlier one), read from its ledger note as the CLI reads it."""
        from v6migrate.journal import Ledger

        table = f"{self.deployment.stack_name}-LedgerTable"
        ledger = Ledger(self.session.client("dynamodb"), table)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            note = ledger.read_note(name, "approval")
            if note and note["status"] == "pending" and note["approval_id"] != after:
                return str(note["approval_id"])
            time.sleep(0.1)
        raise AssertionError(f"{name} asked for no approval within {timeout}s")

    def entered(self, execution_arn: str) -> list[str]:
        sfn = self.session.client("stepfunctions")
        events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [
            e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
        ]

    def events(self) -> list[dict[str, Any]]:
        return drain(self.session, self.deployment.event_queue_url)


@pytest.fixture
def stack(embedded: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    embedded.reset()
    session = embedded.session()
    deployment = deploy(session, parameters=local_parameters("WARNING"))
    return Stack(server=embedded, session=session, deployment=deployment)
