"""The stack's alarms fire on AWS as the template means them to (issue 27, item 3): what only
CloudWatch can show, since whether an alarm's metric and dimensions are the ones AWS publishes
is not simulated. RollbacksAlarm watches AWS/Events `TriggeredRules` for the rule that matches
`Migration Rolled Back` events; this puts one such event on the stack's bus and waits for the
alarm. Skipped unless AWS_SAM_STACK_NAME names a deployed stack and V6MIGRATE_E2E_ALARMS=yes
(the alarm notifies the stack's alarm topic's subscribers: tell them first)."""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest

STACK = os.environ.get("AWS_SAM_STACK_NAME")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not STACK or os.environ.get("V6MIGRATE_E2E_ALARMS") != "yes",
        reason="needs AWS_SAM_STACK_NAME and V6MIGRATE_E2E_ALARMS=yes (it notifies the alarm "
        "topic's subscribers)",
    ),
]


def _physical(logical: str) -> str:
    found = boto3.client("cloudformation").describe_stack_resource(
        StackName=STACK, LogicalResourceId=logical
    )
    return str(found["StackResourceDetail"]["PhysicalResourceId"])


def test_a_rolled_back_migration_sets_off_the_rollbacks_alarm() -> None:
    alarm = _physical("RollbacksAlarm")
    detail = {"migration_id": "e2e-alarm-check", "wave_id": None, "account_id": None,
              "region": None, "cluster": None, "stage": "rollback",
              "error": "an end-to-end check of the alarm, no migration", "reverted": [],
              "kept": []}  # fmt: skip
    answer = boto3.client("events").put_events(Entries=[{
        "Source": "v6migrate", "DetailType": "Migration Rolled Back",
        "Detail": json.dumps(detail), "EventBusName": _physical("EventBus"),
    }])  # fmt: skip
    assert answer["FailedEntryCount"] == 0
    cloudwatch = boto3.client("cloudwatch")
    deadline = time.monotonic() + 15 * 60  # a 300 s period, and the metric's own delay
    state = ""
    while time.monotonic() < deadline:
        state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
        if state == "ALARM":
            break
        time.sleep(30)
    assert state == "ALARM", f"{alarm} is {state} 15 minutes after the event"
