"""The `v6migrate` command.

Exit codes: 0 the plan can run (or the execution succeeded), 2 the plan is blocked, 1 any error.
Every error is one line on stderr, never a traceback. AWS access uses the standard AWS
configuration, so `AWS_ENDPOINT_URL` points it at the embedded AWS of `v6migrate local serve`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)
from pydantic import ValidationError

from v6migrate import aws, runs
from v6migrate.errors import InputError, V6MigrateError
from v6migrate.models import ApprovalPolicy, MigrationRequest, PlanSummary
from v6migrate.runs import TERMINAL, readable_cause

EXIT_OK, EXIT_ERROR, EXIT_BLOCKED = 0, 1, 2


class CliError(Exception):
    """An error the user can act on: printed as one line, exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR)


def _out(text: str = "") -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- inputs


def _region(value: str | None) -> str:
    region = value or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = region or aws.new_session().region_name
    if not region:
        raise CliError("no Region: pass --region or set AWS_REGION")
    return region


STACK_REGION_HELP = "Region of the deployed stack (default: AWS_REGION, else the configuration's)"


def _stack_session(stack_region: str | None, fallback: str | None = None) -> Any:
    """A session in the Region of the deployed stack: `--stack-region`, else the environment's
    (AWS_REGION, which `local serve` prints, or AWS_DEFAULT_REGION), else the configuration's,
    else `fallback`."""
    region = stack_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = region or aws.new_session().region_name or fallback
    if not region:
        raise CliError("no Region: pass --stack-region or set AWS_REGION")
    return aws.new_session(region_name=region)


def _options(text: str | None) -> dict[str, Any]:
    """`--options`: the request's options as JSON, or `@file` holding it."""
    if not text:
        return {}
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as error:
            raise CliError(f"--options: cannot read {text[1:]} ({error.strerror})") from error
    try:
        found = json.loads(text)
    except ValueError as error:
        raise CliError(f"--options: not JSON ({error})") from error
    if not isinstance(found, dict):
        raise CliError("--options: expected a JSON object of options")
    return found


def _request(args: argparse.Namespace, mode: str) -> MigrationRequest:
    try:
        return MigrationRequest(
            cluster=args.cluster,
            account_id=args.account,
            region=_region(args.region),
            mode=mode,  # type: ignore[arg-type]
            options=_options(args.options),  # type: ignore[arg-type]
        )
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "input"
        if field.startswith("options."):
            field = f"--options {field.removeprefix('options.')}"
        names = {"account_id": "--account", "cluster": "--cluster", "region": "--region"}
        raise CliError(
            f"{names.get(field, field)}: {first['msg']} (got {first.get('input')!r})"
        ) from error


def _endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL", "the AWS endpoints")


# --------------------------------------------------------------------------- plan


def cmd_plan(args: argparse.Namespace) -> int:
    from v6migrate.preflight import make_plan, summarise

    request = _request(args, "plan")
    os.environ.setdefault("V6MIGRATE_MAX_ATTEMPTS", "3")
    aws.settings.cache_clear()
    result = make_plan(request)
    summary = summarise(result, request, migration_id=f"cli-{int(time.time())}", limit=None)
    _print_summary(summary, args.output)
    return EXIT_BLOCKED if summary.blocked else EXIT_OK


def _print_summary(summary: PlanSummary, output: str) -> None:
    from v6migrate.render import plan_table

    if output == "json":
        _out(summary.model_dump_json(indent=2))
    else:
        _out(plan_table(summary))


# --------------------------------------------------------------------------- waves


def load_waves(path: str) -> Any:
    """waves.yaml, validated: an error names the file, the wave and the field."""
    import yaml

    from v6migrate.waves import WavesFile

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as error:
        raise CliError(f"{path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise CliError(f"{path}: not YAML ({error})") from error
    try:
        return WavesFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["loc"][:1] == ("waves",) and len(first["loc"]) > 1 and isinstance(data, dict):
            index = first["loc"][1]
            waves = data.get("waves") or []
            if isinstance(index, int) and index < len(waves) and isinstance(waves[index], dict):
                where += f" (wave {waves[index].get('id', index)!r})"
        raise CliError(f"{path}: {where}: {first['msg']}") from error


def cmd_waves_plan(args: argparse.Namespace) -> int:
    """Resolve each wave's targets and plan every cluster, as a wave run does; change nothing."""
    from v6migrate import waves

    spec = load_waves(args.file)
    chosen = [w for w in spec.waves if args.wave in (None, w.id)]
    if not chosen:
        raise CliError(f"{args.file}: no wave {args.wave!r}")
    os.environ.setdefault("V6MIGRATE_MAX_ATTEMPTS", "3")
    aws.settings.cache_clear()
    session = aws.new_session()
    needs_org = any(w.targets.organizational_units for w in chosen)
    organizations = session.client("organizations") if needs_org else None
    report = []
    for wave in chosen:
        targets = waves.resolve(
            wave, organizations, lambda account, region: aws.target_clients(account, region).eks
        )
        planned = waves.plan_all(wave, targets, f"plan-{wave.id}")
        frozen = wave.frozen_at(datetime.now(UTC))
        try:  # what a wave run would refuse before starting anything (too big a state)
            waves.targets_output(wave, f"plan-{wave.id}", planned, None, frozen)
            refused = None
        except InputError as error:
            refused = str(error)
        report.append({**waves.wave_summary(wave, f"plan-{wave.id}", planned),
                       "wave_hash": waves.wave_hash(planned), "refused": refused,
                       "frozen": frozen.model_dump(mode="json") if frozen else None})  # fmt: skip
    if args.output == "json":
        _out(json.dumps(report, indent=2))
    else:
        for wave_report in report:
            _print_wave(wave_report)
    return EXIT_OK


def _api(args: argparse.Namespace, method: str, path: str, body: Any) -> Any:
    """One call to the stack's REST API, signed as the caller (the API records them as the
    requester): its JSON answer, or a CliError with the API's reason."""
    from tooling.api import call

    session = _stack_session(args.stack_region)
    url = args.api_url
    if not url:
        parameter = f"/{args.stack}/api-url"
        try:
            url = session.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
        except ClientError as error:
            raise CliError(
                f"no {parameter}: is the stack {args.stack} deployed here? (or pass --api-url)"
            ) from error
    answer = call(session, url.rstrip("/"), method, path, body)
    if answer.status >= 400:
        found = answer.body if isinstance(answer.body, dict) else {"message": answer.body}
        details = "; ".join(f"{e['field']}: {e['problem']}" for e in found.get("errors") or [])
        raise CliError(f"{method} {path}: {found.get('message')}" + (f" ({details})" if details
                                                                       else ""))  # fmt: skip
    return answer.body


def cmd_waves_apply(args: argparse.Namespace) -> int:
    """One EventBridge Scheduler schedule per scheduled wave, kept by the API (PUT
    /waves/schedules), which records the caller as each changed wave's requester: made, changed
    or (their wave no longer in the file, or no longer scheduled) deleted; the changes are
    printed (with --dry-run, only printed)."""
    spec = load_waves(args.file)
    body = {"waves": [w.model_dump(mode="json") for w in spec.waves], "dry_run": args.dry_run}
    answer = _api(args, "PUT", "/waves/schedules", body)
    for wave_id in answer["not_scheduled"]:
        _out(f"  wave {wave_id}: no schedule (start it with v6migrate waves start "
             f"{args.file} {wave_id})")  # fmt: skip
    for change in answer["changes"]:
        name = change["schedule"]
        if change["change"] == "create":
            _out(f"+ {name}: {change['expression']} {change['timezone']}")
        elif change["change"] == "update":
            _out(f"~ {name}: {', '.join(change['fields'])}")
        elif change["change"] == "unchanged":
            _out(f"= {name}: unchanged")
        else:
            _out(f"- {name}: no longer in {args.file} (or no longer scheduled)")
    return EXIT_OK


def cmd_waves_start(args: argparse.Namespace) -> int:
    """Start one wave of the file now, through the API (POST /waves), which records the caller
    as its requester."""
    spec = load_waves(args.file)
    chosen = [w for w in spec.waves if w.id == args.wave_id]
    if not chosen:
        raise CliError(f"{args.file}: no wave {args.wave_id!r}")
    token = args.client_token or uuid.uuid4().hex
    body = {"wave": chosen[0].model_dump(mode="json"), "client_token": token}
    answer = _api(args, "POST", "/waves", body)
    _out(f"{'started' if not answer['replayed'] else 'already started'} wave {args.wave_id}: "
         f"run {answer['run_id']}, requested by {answer['requested_by']}")  # fmt: skip
    return EXIT_OK


def _print_wave(report: dict[str, Any]) -> None:
    clusters = report["clusters"]
    started = [c for c in clusters if not c["blocked"]]
    _out(f"wave {report['wave_id']}: {len(clusters)} cluster(s), {len(started)} to start, "
         f"{len(clusters) - len(started)} blocked (plans {report['wave_hash'][:12]})")  # fmt: skip
    if report.get("refused"):
        _out(f"  REFUSED: {report['refused']}")
    if report["frozen"]:
        window = report["frozen"]
        _out(f"  FROZEN now: {window['start']} to {window['end']} {window['timezone']} "
             f"{window['reason']}".rstrip())  # fmt: skip
    for c in clusters:
        counts = ", ".join(f"{stage} {n}" for stage, n in c["counts"].items() if n)
        state = "BLOCKED: " + "; ".join(c["blockers"]) if c["blocked"] else counts or "nothing"
        _out(f"  {c['account_id']} {c['region']:<14} {c['cluster']:<28} {state}")


# --------------------------------------------------------------------------- start


def _state_machine_arn(sfn: Any, stack: str, explicit: str | None) -> str:
    configured = explicit or aws.settings().state_machine_arn
    if configured:
        return configured
    wanted = f"{stack}-migration"
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == wanted:
                return str(machine["stateMachineArn"])
    raise CliError(
        f"no state machine named {wanted} at {_endpoint()}: deploy the stack "
        "(or run `v6migrate local serve`), or pass --state-machine ARN"
    )


def history_after(sfn: Any, execution_arn: str, after: int = 0) -> list[dict[str, Any]]:
    """The execution's events after event `after` (ids count from 1), oldest first: newest
    pages first until an event already seen (GetExecutionHistory pages at most 1,000)."""
    found: list[dict[str, Any]] = []
    token = None
    while True:
        page = sfn.get_execution_history(
            executionArn=execution_arn, reverseOrder=True, maxResults=1000,
            **({"nextToken": token} if token else {}),
        )  # fmt: skip
        fresh = [e for e in page["events"] if e["id"] > after]
        found.extend(fresh)
        token = page.get("nextToken")
        if not token or len(fresh) < len(page["events"]):
            return sorted(found, key=lambda e: e["id"])


def follow(
    sfn: Any, execution_arn: str, echo: Callable[[str], None] = _out, poll: float = 0.25,
    entered: Callable[[str], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Print each state as it is entered until the execution ends; return its description.
    `entered(name)` is told of each state, after it is printed."""
    events: list[dict[str, Any]] = []
    started = time.monotonic()
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        new = history_after(sfn, execution_arn, events[-1]["id"] if events else 0)
        events.extend(new)
        for event in new:
            details = event.get("stateEnteredEventDetails")
            if details:
                elapsed = time.monotonic() - started
                echo(f"  {elapsed:6.2f}s  -> {details['name']}")
                if entered is not None:
                    entered(details["name"])
            failed = event.get("executionFailedEventDetails")
            if failed:
                cause = readable_cause(failed.get("cause", ""))
                echo(f"  execution failed: {failed.get('error')}: {cause}")
                if failed.get("error") == "BlockedError":
                    for blocker in blockers_in(events):
                        echo(f"  BLOCKER {blocker['code']}: {blocker['message']}")
        # described before the history was read: an ended run's last events are in it
        if described["status"] in TERMINAL:
            return described
        time.sleep(poll)


def blockers_in(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blockers of the last plan Preflight returned in an execution's history (a run
    ended BlockedError says no more in its cause)."""
    for event in reversed(events):
        details = event.get("taskSucceededEventDetails") or {}
        try:
            answer = json.loads(details.get("output") or "{}")
        except ValueError:
            continue
        found = answer.get("Payload", answer) if isinstance(answer, dict) else None
        if isinstance(found, dict) and isinstance(found.get("blockers"), list):
            return [b for b in found["blockers"] if isinstance(b, dict)]
    return []


def outcome(description: dict[str, Any], mode: str, output: str) -> int:
    status = description["status"]
    if status != "SUCCEEDED":
        cause = readable_cause(description.get("cause", ""))
        _out(f"{status}: {description.get('error', '')}: {cause}".rstrip(": "))
        return EXIT_BLOCKED if description.get("error") == "BlockedError" else EXIT_ERROR
    _out("SUCCEEDED")
    if mode == "plan" and description.get("output"):
        summary = PlanSummary.model_validate_json(description["output"])
        _out()
        _print_summary(summary, output)
        return EXIT_BLOCKED if summary.blocked else EXIT_OK
    return EXIT_OK


def start_execution(sfn: Any, arn: str, request: MigrationRequest) -> str:
    started, _ = runs.start(sfn, arn, request, runs.execution_name(request))
    return started


def _with_approval(request: MigrationRequest, args: argparse.Namespace, session: Any) -> Any:
    """The request's approval policy from the options: who may approve, how many, or none."""
    if request.mode != "apply":
        return request
    if args.no_approval:
        policy = ApprovalPolicy(mode="none")
    else:
        caller = session.client("sts").get_caller_identity()["Arn"]
        try:
            policy = ApprovalPolicy(
                approvers=tuple(args.approver or ()), required=args.approvals,
                allow_self_approval=args.allow_self_approval, requested_by=caller,
                timeout_seconds=args.approval_timeout,
            )  # fmt: skip
        except ValidationError as error:
            first = error.errors()[0]
            names = {"required": "--approvals", "timeout_seconds": "--approval-timeout"}
            option = names.get(str(first["loc"][0]), "--approver")
            raise CliError(f"{option}: {first['msg']} (got {first.get('input')!r})") from error
    return request.model_copy(update={"approval": policy})


def _announce_approval(session: Any, stack: str, migration_id: str) -> Callable[[str], None]:
    """When the run enters Approval, print the approval id and the commands that decide it."""
    from v6migrate.journal import Ledger

    def entered(name: str) -> None:
        if name != "Approval":
            return
        dynamodb = session.client("dynamodb", config=aws.retries())
        ledger = Ledger(dynamodb, _ledger_table(dynamodb, stack, None))
        note = ledger.pending_approval(migration_id, timeout=10)
        if note:  # the approval function notes it as the state begins
            approval_id = note["approval_id"]
            _out(f"  waiting for approval {approval_id}: `v6migrate approve {approval_id}` "
                 f"or `v6migrate reject {approval_id}`")  # fmt: skip

    return entered


def cmd_start(args: argparse.Namespace) -> int:
    request = _request(args, args.mode)
    os.environ.setdefault("V6MIGRATE_MAX_ATTEMPTS", "3")
    aws.settings.cache_clear()
    # The workflow runs in its own (tooling) Region, which may differ from the cluster's.
    session = _stack_session(args.stack_region, request.region)
    request = _with_approval(request, args, session)
    sfn = session.client("stepfunctions", config=aws.retries())
    arn = _state_machine_arn(sfn, args.stack, args.state_machine)
    execution = start_execution(sfn, arn, request)
    _out(f"started {execution}")
    if not args.follow:
        return EXIT_OK
    watch = _announce_approval(session, args.stack, execution.rsplit(":", 1)[-1])
    return outcome(follow(sfn, execution, entered=watch), request.mode, args.output)


# --------------------------------------------------------------------------- approve, reject


def decide(
    session: Any, stack: str, approval_id: str, decision: str, reason: str = ""
) -> dict[str, Any]:
    """Send one decision with a proof of the caller's identity (60 s, bound to the id and the
    decision); the approval function's answer, or a CliError saying why it was refused."""
    from v6migrate import identity

    sts = session.client("sts", config=aws.retries())
    proof = identity.make_proof(sts, f"{approval_id}:{decision}")
    function = session.client("lambda", config=aws.retries())
    answer = function.invoke(
        FunctionName=f"{stack}-approval",
        Payload=json.dumps({"action": "decide", "approval_id": approval_id,
                            "decision": decision, "proof": proof, "reason": reason}).encode(),
    )  # fmt: skip
    body = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise CliError(f"{decision} {approval_id}: {body.get('errorMessage', 'refused')}")
    return dict(body)


def cmd_decide(args: argparse.Namespace) -> int:
    session = _stack_session(args.stack_region)
    outcome_ = decide(session, args.stack, args.approval_id, args.decision, args.reason)
    if outcome_["status"] == "pending":
        _out(f"approval {args.approval_id}: recorded ({len(outcome_['approvers'])} of "
             f"{outcome_['needed']} approvers); waiting for more")  # fmt: skip
    else:
        _out(f"approval {args.approval_id}: {outcome_['status']} by {outcome_['decided_by']}")
    return EXIT_OK


# --------------------------------------------------------------------------- status

# Each stage's first state, and the states that end it (state machine names).
STAGE_STATES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("preflight", "PreflightStarted", ("PreflightSucceeded", "PreflightFailed")),
    ("vpc", "VpcDualStackStarted", ("VpcDualStackSucceeded", "VpcDualStackFailed")),
    ("attachments", "AttachmentsStarted", ("AttachmentsSucceeded", "AttachmentsFailed")),
    ("cni", "CniEgressStarted", ("CniEgressSucceeded", "CniEgressFailed")),
    ("nodes", "NodeRolloutStarted", ("NodeRolloutSucceeded", "NodeRolloutFailed")),
    ("validate", "ValidateStarted", ("ValidateSucceeded", "ValidateFailed")),
    ("rollback", "Rollback", ("RolledBack", "RollbackFailed")),
)


def stage_times(events: Sequence[Any]) -> list[dict[str, Any]]:
    """Per stage: when it started, how it ended and how long it took (from the history)."""
    entered: dict[str, datetime] = {}
    for event in events:
        details = event.get("stateEnteredEventDetails")
        if details and details["name"] not in entered:
            entered[details["name"]] = event["timestamp"]
    rows = []
    for stage, first, ends in STAGE_STATES:
        if first not in entered:
            continue
        end = next((name for name in ends if name in entered), None)
        status = "running" if end is None else ("failed" if "Fail" in end else "succeeded")
        took = (entered[end] - entered[first]).total_seconds() if end else None
        rows.append({"stage": stage, "status": status, "started": entered[first], "seconds": took})
    return rows


def _ledger_table(dynamodb: Any, stack: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    prefix = f"{stack}-LedgerTable"
    for page in dynamodb.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            if name.startswith(prefix):
                return str(name)
    raise CliError(f"no ledger table {prefix}* at {_endpoint()}: pass --ledger-table NAME")


def cmd_status(args: argparse.Namespace) -> int:
    from v6migrate.journal import Ledger

    session = _stack_session(args.stack_region)
    sfn = session.client("stepfunctions", config=aws.retries())
    machine = _state_machine_arn(sfn, args.stack, args.state_machine)
    execution = f"{machine.replace(':stateMachine:', ':execution:')}:{args.migration_id}"
    try:
        description = sfn.describe_execution(executionArn=execution)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise CliError(f"no migration {args.migration_id} in {machine}") from error
        raise
    events = history_after(sfn, execution)
    dynamodb = session.client("dynamodb", config=aws.retries())
    ledger = Ledger(dynamodb, _ledger_table(dynamodb, args.stack, args.ledger_table))
    changes: dict[str, dict[str, int]] = {}
    for entry in ledger.entries(args.migration_id):
        counts = changes.setdefault(entry.change.stage, {})
        counts[entry.status] = counts.get(entry.status, 0) + 1
    report = ledger.read_note(args.migration_id, "validation")
    stages = stage_times(events)
    if args.output == "json":
        _out(json.dumps({
            "migration_id": args.migration_id, "status": description["status"],
            "error": description.get("error"), "stages": stages, "changes": changes,
            "validation": report,
        }, default=str, indent=2))  # fmt: skip
        return EXIT_OK if description["status"] in ("SUCCEEDED", "RUNNING") else EXIT_ERROR
    _out(f"migration {args.migration_id}: {description['status']}")
    if description.get("error"):
        _out(f"  {description['error']}: {readable_cause(description.get('cause', ''))}")
    _out(f"  {'stage':<12} {'status':<10} {'started (UTC)':<20} took")
    for row in stages:
        took = f"{row['seconds']:.1f}s" if row["seconds"] is not None else "-"
        started = row["started"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        _out(f"  {row['stage']:<12} {row['status']:<10} {started:<20} {took}")
    for stage, counts in changes.items():
        _out(f"  changes {stage}: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if report is None:
        _out("  validation: not run")
    else:
        _out(f"  validation: {'PASSED' if report['passed'] else 'FAILED'}")
        for check in report["checks"]:
            _out(f"    {'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
    return EXIT_OK if description["status"] in ("SUCCEEDED", "RUNNING") else EXIT_ERROR


# --------------------------------------------------------------------------- local


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def _approval_id(text: str) -> str:
    from v6migrate.approval import APPROVAL_ID

    if not re.match(APPROVAL_ID, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an approval id (the 16 letters and digits the run printed)"
        )
    return text


def _share(text: str) -> float | str:
    if text == "buckets":
        return text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither `buckets` nor a share from 0 up to (not including) 1"
        )
    return value


def _rate(text: str) -> tuple[str, int, float]:
    """`SERVICE=TOKENS@PER_SECOND`, e.g. `eks=20@2`."""
    service, _, figures = text.partition("=")
    tokens, _, per_second = figures.partition("@")
    try:
        found = (service.strip(), int(tokens), float(per_second))
    except ValueError:
        found = ("", 0, 0.0)
    if not found[0] or found[1] < 1 or found[2] <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not SERVICE=TOKENS@PER_SECOND (e.g. eks=20@2: 20 tokens, 2 a second)"
        )
    return found


def cmd_local_serve(args: argparse.Namespace) -> int:
    from local.serve import serve
    from local.server import ServerStartFailed

    rates = {service: (tokens, rate) for service, tokens, rate in args.rate or []}
    if rates and args.throttle != "buckets":
        raise CliError("--rate sets a bucket: it needs --throttle buckets")
    try:
        return serve(
            estate=args.estate, port=args.port, echo=_out, page_size=args.page_size,
            throttle=args.throttle, rates=rates,
        )  # fmt: skip
    except ValueError as error:
        raise CliError(str(error)) from error
    except ServerStartFailed as error:
        raise CliError(str(error)) from error


def cmd_demo(args: argparse.Namespace) -> int:
    from tooling.demo import run_demo

    if args.wave:
        from tooling.demo_wave import run_wave_demo

        return run_wave_demo(echo=_out)
    return run_demo(echo=_out, output=args.output, scenario=args.scenario, estate=args.estate)


# --------------------------------------------------------------------------- main


def _version() -> str:
    """The installed package's version (pyproject.toml's)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("v6migrate")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="v6migrate", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"v6migrate {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def target(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--cluster", required=True, help="EKS cluster name")
        sub.add_argument("--account", help="target account id (default: the caller's)")
        sub.add_argument("--region", help="AWS Region (default: the AWS configuration's)")
        sub.add_argument("--output", choices=["table", "json"], default="table")
        sub.add_argument(
            "--options", metavar="JSON|@FILE",
            help="the request's options (see README), as JSON or @file holding it",
        )  # fmt: skip

    plan = commands.add_parser("plan", help="discover and plan, in-process; changes nothing")
    target(plan)
    plan.set_defaults(func=cmd_plan)

    start = commands.add_parser("start", help="start the deployed migration state machine")
    target(start)
    start.add_argument("--mode", choices=["plan", "apply"], required=True)
    start.add_argument("--follow", action="store_true", help="show each state until the end")
    start.add_argument("--stack", default="v6migrate", help="stack name (default v6migrate)")
    start.add_argument("--state-machine", help="state machine ARN (default: by stack name)")
    start.add_argument("--stack-region", help=STACK_REGION_HELP)
    start.add_argument(
        "--approver", action="append", metavar="ARN",
        help="one of the platform's approvers (its approval policy) who may approve this "
        "plan (repeat for more; default: all of them); an apply run waits for approval "
        "before its first change",
    )  # fmt: skip
    start.add_argument(
        "--approvals",
        type=_positive,
        default=1,
        help="people needed (1 to 3; never fewer than the platform's policy asks)",
    )
    start.add_argument(
        "--allow-self-approval",
        action="store_true",
        help="the requester may approve too (only where the platform's policy allows it)",
    )
    start.add_argument(
        "--approval-timeout", type=_positive, default=86_400, metavar="SECONDS",
        help="no decision by then: the run ends, nothing changed (default a day)",
    )  # fmt: skip
    start.add_argument(
        "--no-approval", action="store_true",
        help="change the network straight after preflight (only where the platform's "
        "approval policy allows it, or for its break-glass principals; else blocked)",
    )  # fmt: skip
    start.set_defaults(func=cmd_start)

    for verb in ("approve", "reject"):
        sub = commands.add_parser(verb, help=f"{verb} a plan waiting for approval")
        sub.add_argument(
            "approval_id", type=_approval_id, help="the id in the Approval Requested event or chat"
        )
        sub.add_argument("--reason", default="", help="why (recorded in the ledger)")
        sub.add_argument("--stack", default="v6migrate", help="stack name (default v6migrate)")
        sub.add_argument("--stack-region", help=STACK_REGION_HELP)
        sub.set_defaults(func=cmd_decide, decision=verb)

    status = commands.add_parser(
        "status", help="a migration's stages with their times, its changes and validation report"
    )
    status.add_argument("migration_id", help="the execution name (printed by `start`)")
    status.add_argument("--stack", default="v6migrate", help="stack name (default v6migrate)")
    status.add_argument("--state-machine", help="state machine ARN (default: by stack name)")
    status.add_argument("--ledger-table", help="ledger table (default: by stack name)")
    status.add_argument("--stack-region", help=STACK_REGION_HELP)
    status.add_argument("--output", choices=["table", "json"], default="table")
    status.set_defaults(func=cmd_status)

    waves = commands.add_parser("waves", help="waves of clusters across accounts (waves.yaml)")
    wave_commands = waves.add_subparsers(dest="waves_command", required=True, parser_class=_Parser)
    waves_plan = wave_commands.add_parser(
        "plan", help="resolve each wave's clusters and plan them; changes nothing"
    )
    waves_plan.add_argument("file", help="waves.yaml")
    waves_plan.add_argument("--wave", help="only this wave (its id)")
    waves_plan.add_argument("--output", choices=["table", "json"], default="table")
    waves_plan.set_defaults(func=cmd_waves_plan)
    waves_apply = wave_commands.add_parser(
        "apply", help="create, update or delete one EventBridge Scheduler schedule per wave"
    )
    waves_apply.add_argument("file", help="waves.yaml")
    waves_apply.add_argument("--stack", default="v6migrate", help="stack name (default v6migrate)")
    waves_apply.add_argument("--stack-region", help="Region of the deployed stack")
    waves_apply.add_argument("--dry-run", action="store_true", help="print the diff only")
    waves_apply.add_argument("--api-url", help="the REST API (default: the stack's)")
    waves_apply.set_defaults(func=cmd_waves_apply)
    waves_start = wave_commands.add_parser(
        "start", help="start one wave now, through the REST API (you are its requester)"
    )
    waves_start.add_argument("file", help="waves.yaml")
    waves_start.add_argument("wave_id", help="the wave's id")
    waves_start.add_argument("--stack", default="v6migrate", help="stack name (default v6migrate)")
    waves_start.add_argument("--stack-region", help="Region of the deployed stack")
    waves_start.add_argument("--api-url", help="the REST API (default: the stack's)")
    waves_start.add_argument("--client-token", help="the same token names the same wave run")
    waves_start.set_defaults(func=cmd_waves_start)

    local = commands.add_parser("local", help="the embedded AWS")
    local_commands = local.add_subparsers(dest="local_command", required=True, parser_class=_Parser)
    serve = local_commands.add_parser("serve", help="run the embedded AWS in the foreground")
    serve.add_argument("--estate", choices=["none", "small", "realistic", "large"], default="small")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument(
        "--page-size", type=_positive, default=None, metavar="N",
        help="at most N items a page of every Describe and List the workflow reads (AWS may "
        "answer fewer than asked; default: AWS's own page sizes)",
    )  # fmt: skip
    serve.add_argument(
        "--throttle", type=_share, default=0.0, metavar="SHARE|buckets",
        help="that share (0 to 1) of the calls to each service the workflow uses is throttled, "
        "with the service's own error code and HTTP status; or `buckets`: EC2's and Step "
        "Functions' published token buckets per account and Region (default: none)",
    )  # fmt: skip
    serve.add_argument(
        "--rate", type=_rate, action="append", metavar="SERVICE=TOKENS@PER_SECOND",
        help="with --throttle buckets: a bucket per account and Region for a service that "
        "publishes none (eks, autoscaling), e.g. eks=20@2 (repeatable)",
    )  # fmt: skip
    serve.set_defaults(func=cmd_local_serve)

    demo = commands.add_parser("demo", help="the small estate migrated in the embedded AWS")
    demo.add_argument("--output", choices=["table", "json"], default="table")
    demo.add_argument(
        "--wave", action="store_true",
        help="a wave of three clusters in two accounts, approved from Slack, one failing",
    )  # fmt: skip
    demo.add_argument(
        "--estate", choices=["small", "realistic"], default="small",
        help="small (default), or realistic: the pitfalls of a lived-in estate",
    )  # fmt: skip
    demo.add_argument(
        "--scenario",
        choices=["apply", "fail-attachments", "fail-nodes", "fail-validation", "plan"],
        default="apply",
        help="apply (default: every stage and the validation report), fail-attachments, "
        "fail-nodes or fail-validation (see the compensation), or plan (dry run only)",
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def _layer_logs_to_stderr() -> None:
    """What the layer logs when the CLI runs it in-process (a dry run, a wave's plan) is not
    the command's output: to stderr, warnings and worse unless POWERTOOLS_LOG_LEVEL says
    otherwise (`plan --output json` printed an INFO line before its JSON)."""
    from v6migrate import observability

    logs = observability.instruments().logger
    logs.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL") or "WARNING")
    handler = logs.registered_handler
    if isinstance(handler, logging.StreamHandler):
        # not setStream: it flushes the stream it replaces, which an earlier caller in this
        # process (a test's capture) may have closed
        with handler.lock or contextlib.nullcontext():
            handler.stream = sys.stderr


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _layer_logs_to_stderr()
    try:
        code: int = args.func(args)
        return code
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
    except V6MigrateError as error:
        print(f"error: {error}", file=sys.stderr)
    except EndpointConnectionError as error:
        print(
            f"error: cannot reach {error.kwargs.get('endpoint_url', _endpoint())}", file=sys.stderr
        )
    except NoCredentialsError:
        print(
            "error: no AWS credentials found (configure a profile or the environment)",
            file=sys.stderr,
        )
    except NoRegionError:
        print("error: no Region: pass --region or set AWS_REGION", file=sys.stderr)
    except ClientError as error:
        detail = error.response.get("Error", {})
        print(f"error: {detail.get('Code')}: {detail.get('Message')}", file=sys.stderr)
    except BotoCoreError as error:
        print(f"error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
