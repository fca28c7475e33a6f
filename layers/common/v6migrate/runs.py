"""Starting a migration and reading where it stands: what the CLI and the API share.

A run is one Step Functions execution of the migration state machine; its name is the
migration id, the ledger's key for everything the run plans, changes and notes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from v6migrate.errors import ConflictError, NotFoundError, translate
from v6migrate.models import MigrationRequest

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def execution_name(request: MigrationRequest, token: str | None = None, caller: str = "") -> str:
    """`<cluster>-<mode>-<UTC time>`; with a client token, `<cluster>-<mode>-t<hash>` of the
    caller and the token instead, so a retried start names the same execution (at most 80
    characters, the StartExecution limit)."""
    base = re.sub(r"[^0-9A-Za-z_-]", "-", request.cluster)[:50]
    if token is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
        return f"{base}-{request.mode}-{stamp}"
    digest = hashlib.sha256(f"{caller}\n{token}".encode()).hexdigest()[:20]
    return f"{base}-{request.mode}-t{digest}"


def execution_arn(machine_arn: str, name: str) -> str:
    """arn:aws:states:<region>:<account>:stateMachine:<machine> -> ...:execution:<machine>:<name>"""
    prefix, machine = machine_arn.split(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


def start(sfn: Any, machine_arn: str, request: MigrationRequest, name: str) -> tuple[str, bool]:
    """Start the run; (its ARN, whether this call started it). StartExecution answers a
    running execution of the same name and input with that execution and refuses a closed one
    or other input (ExecutionAlreadyExists): an earlier start of this very request is the same
    run, anything else under the name is a conflict."""
    payload = json.dumps(request.model_dump(mode="json", exclude_none=True), sort_keys=True)
    try:
        response = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=payload)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise translate(error, "states:StartExecution") from error
        arn = execution_arn(machine_arn, name)
        earlier = sfn.describe_execution(executionArn=arn)
        if json.loads(earlier.get("input") or "{}") != json.loads(payload):
            raise ConflictError(f"{name}: the client token was used for another request") from error
        return arn, False
    return str(response["executionArn"]), True


def readable_cause(cause: str) -> str:
    """A Lambda error's cause is its JSON payload: its message, not its stack trace."""
    try:
        payload = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    if isinstance(payload, dict) and "errorMessage" in payload:
        return str(payload["errorMessage"])
    return cause


def status(sfn: Any, ledger: Any, machine_arn: str, migration_id: str) -> dict[str, Any]:
    """Where a run stands: the execution's status and current state, its changes by status
    against the plan, its approval and its validation, from the execution and the ledger."""
    arn = execution_arn(machine_arn, migration_id)
    try:
        described = sfn.describe_execution(executionArn=arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise NotFoundError(f"no migration {migration_id}") from error
        raise translate(error, "states:DescribeExecution") from error
    history = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=50)
    stage = next(
        (
            event["stateEnteredEventDetails"]["name"]
            for event in history["events"]
            if "stateEnteredEventDetails" in event
        ),
        None,
    )
    entries = list(ledger.entries(migration_id))
    counted = Counter(entry.status for entry in entries)
    planned = len(entries)
    done = counted["applied"] + counted["in-place"]
    answer: dict[str, Any] = {
        "migration_id": migration_id,
        "execution_arn": arn,
        "status": described["status"],
        "stage": stage,
        "started_at": _iso(described.get("startDate")),
        "stopped_at": _iso(described.get("stopDate")),
        "changes": {
            "planned": planned,
            "by_status": dict(sorted(counted.items())),
            "progress": round(done / planned, 3) if planned else None,
        },
        "approval": ledger.read_note(migration_id, "approval"),
        "validation": ledger.read_note(migration_id, "validation"),
    }
    if described["status"] in TERMINAL and described["status"] != "SUCCEEDED":
        answer["error"] = described.get("error")
        answer["cause"] = readable_cause(described.get("cause", ""))
    return answer


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None
