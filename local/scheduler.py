"""EventBridge Scheduler's firing, for the embedded AWS: moto keeps schedules but never runs
them. Written from the Scheduler user guide (schedule types; flexible time windows; target and
execution role; ActionAfterCompletion): a one-time schedule `at(yyyy-mm-ddThh:mm:ss)` fires
once at that local time in its `ScheduleExpressionTimezone`, within its flexible window (here
at the window's start, so a test knows when), by assuming the schedule's execution role and
calling the target (here Step Functions StartExecution with the target's `Input`); with
`ActionAfterCompletion: DELETE` the schedule is deleted once it has fired. The time is the
simulated one (wall time plus what the seeder let pass). Not simulated: `cron(...)` and
`rate(...)` schedules, retries and the dead-letter queue, targets other than Step Functions.
"""

from __future__ import annotations

import datetime
import logging
import re
import threading
import time
import zoneinfo
from typing import Any

import boto3

from local.gaps.timing import CLOCK

AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
LOG = logging.getLogger("local.scheduler")


def due_at(expression: str, timezone: str) -> datetime.datetime | None:
    """When a one-time schedule fires (aware); None for a recurring one."""
    found = AT.match(expression)
    if not found:
        return None
    local = datetime.datetime.fromisoformat(found.group(1))
    return local.replace(tzinfo=zoneinfo.ZoneInfo(timezone or "UTC"))


def simulated_now() -> datetime.datetime:
    return datetime.datetime.fromtimestamp(time.time() + CLOCK.skipped, tz=datetime.UTC)


class ScheduleRunner:
    def __init__(self) -> None:
        self.endpoint = ""
        self.credentials: dict[str, str] = {}
        self.fired: list[tuple[str, str]] = []  # (schedule ARN, execution ARN)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, endpoint: str, credentials: dict[str, str]) -> ScheduleRunner:
        """`credentials`: the embedded AWS's own key (named, not read from the environment,
        where a running function's are while it runs)."""
        self.endpoint, self.credentials = endpoint, credentials
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True, name="v6-scheduler")
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        self.fired.clear()

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.tick()
            except Exception:  # a schedule that cannot fire must not stop the others
                LOG.exception("a schedule could not fire")

    def tick(self) -> None:
        from moto.scheduler.models import scheduler_backends

        now = simulated_now()
        for account in list(scheduler_backends):
            for region, backend in list(scheduler_backends[account].items()):
                for group in list(backend.schedule_groups.values()):
                    for schedule in list(group.schedules.values()):
                        due = due_at(schedule.schedule_expression,
                                     schedule.schedule_expression_timezone)  # fmt: skip
                        done = any(arn == schedule.arn for arn, _ in self.fired)
                        if schedule.state != "ENABLED" or due is None or done or now < due:
                            continue
                        self._fire(region, schedule)
                        if schedule.action_after_completion == "DELETE":
                            backend.delete_schedule(group.name, schedule.name)

    def _fire(self, region: str, schedule: Any) -> None:
        target = schedule.target
        if ":states:" not in target["Arn"]:
            LOG.warning("schedule %s: only Step Functions targets are simulated", schedule.arn)
            return
        sts = boto3.client(
            "sts", region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
        )  # fmt: skip
        credentials = sts.assume_role(RoleArn=target["RoleArn"], RoleSessionName="scheduler")[
            "Credentials"
        ]
        sfn = boto3.client(
            "stepfunctions", region_name=region, endpoint_url=self.endpoint,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )  # fmt: skip
        started = sfn.start_execution(
            stateMachineArn=target["Arn"], input=target.get("Input") or "{}"
        )
        self.fired.append((schedule.arn, started["executionArn"]))


SCHEDULER = ScheduleRunner()
