"""Starting a migration and reading where it stands: what the CLI and the API share.

A run is one Step Functions execution of the migration state machine; its name is the
migration id, the ledger's key for everything the run plans, changes and notes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
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


def start(
    sfn: Any, machine_arn: str, request: MigrationRequest | dict[str, Any], name: str
) -> tuple[str, bool]:
    """Start the run (a migration's request, or a wave's input); (its ARN, whether this call
    started it). A run of that name already there with this very input is the one a retried
    start meant (StartExecution itself answers a running one with it, and refuses a closed
    one: ExecutionAlreadyExists); under the name with another input, a conflict."""
    document = (
        request if isinstance(request, dict)
        else request.model_dump(mode="json", exclude_none=True)
    )  # fmt: skip
    payload = json.dumps(document, sort_keys=True)
    arn = execution_arn(machine_arn, name)
    earlier = described(sfn, arn)
    if earlier is None:
        try:
            response = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=payload)
            return str(response["executionArn"]), True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise translate(error, "states:StartExecution") from error
            earlier = described(sfn, arn)  # started meanwhile by a simultaneous retry
    if earlier is None or json.loads(earlier.get("input") or "{}") != json.loads(payload):
        raise ConflictError(f"{name}: the client token was used for another request")
    return arn, False


def described(sfn: Any, arn: str) -> dict[str, Any] | None:
    """DescribeExecution's answer, or None if there is no such execution."""
    try:
        return dict(sfn.describe_execution(executionArn=arn))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise translate(error, "states:DescribeExecution") from error


def last_state(sfn: Any, arn: str) -> str | None:
    """The state the execution entered last (from its newest 50 events)."""
    history = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=50)
    return next(
        (
            str(event["stateEnteredEventDetails"]["name"])
            for event in history["events"]
            if "stateEnteredEventDetails" in event
        ),
        None,
    )


def readable_cause(cause: str) -> str:
    """A Lambda error's cause is its JSON payload: its message, not its stack trace."""
    try:
        payload = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    if isinstance(payload, dict) and "errorMessage" in payload:
        return str(payload["errorMessage"])
    return cause


def status(
    sfn: Any, ledger: Any, approvals: Any, machine_arn: str, migration_id: str,
    may_read: Callable[[str | None], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Where a run stands: the execution's status and current state, its changes by status
    against the plan, its latest approval and its validation, from the execution and the
    ledger; `may_read` refuses a caller the run's request is not for, before anything else."""
    arn = execution_arn(machine_arn, migration_id)
    execution = described(sfn, arn)
    if execution is None:
        raise NotFoundError(f"no migration {migration_id}")
    if may_read is not None:  # with the account its request names (none: the stack's)
        asked = json.loads(execution.get("input") or "{}")
        may_read(asked.get("account_id") if isinstance(asked, dict) else None)
    stage = last_state(sfn, arn)
    entries = list(ledger.entries(migration_id))
    counted = Counter(entry.status for entry in entries)
    planned = len(entries)
    done = counted["applied"] + counted["in-place"]
    answer: dict[str, Any] = {
        "migration_id": migration_id,
        "execution_arn": arn,
        "status": execution["status"],
        "stage": stage,
        "started_at": iso(execution.get("startDate")),
        "stopped_at": iso(execution.get("stopDate")),
        "changes": {
            "planned": planned,
            "by_status": dict(sorted(counted.items())),
            "progress": round(done / planned, 3) if planned else None,
        },
        "approval": _approval(ledger, approvals, migration_id),
        "validation": ledger.read_note(migration_id, "validation"),
    }
    if execution["status"] == "SUCCEEDED" and execution.get("output"):
        answer["output"] = json.loads(execution["output"])  # a plan's summary, an apply's report
    if execution["status"] in TERMINAL and execution["status"] != "SUCCEEDED":
        answer["error"] = execution.get("error")
        answer["cause"] = readable_cause(execution.get("cause", ""))
    return answer


def _approval(ledger: Any, approvals: Any, migration_id: str) -> dict[str, Any] | None:
    note = ledger.read_note(migration_id, "approval")
    if not note:
        return None
    try:
        return dict(approvals.state(note["approval_id"]))
    except NotFoundError:  # its record expired (TTL): what the run noted
        return {"approval_id": note["approval_id"], "status": "expired"}


def iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None
