"""The embedded Step Functions runs what the wave workflow needs as Step Functions does:
child executions through the optimized integration (`startExecution.sync:2`), Distributed
Map's failure thresholds, unnamed executions. Each test names the reference it follows."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.server import EmbeddedAws

ROLE = "arn:aws:iam::123456789012:role/sfn"


@pytest.fixture
def sfn(embedded: EmbeddedAws) -> Any:
    embedded.reset()
    return embedded.session().client("stepfunctions")


def _machine(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    arn: str = sfn.create_state_machine(name=name, roleArn=ROLE, definition=json.dumps(definition))[
        "stateMachineArn"
    ]
    return arn


def _child(sfn: Any) -> str:
    """Fails with `Boom` when its input says so, else answers {"ok": <its item>}."""
    return _machine(sfn, "child", {
        "StartAt": "C", "States": {
            "C": {"Type": "Choice", "Default": "OK",
                  "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "F"}]},
            "F": {"Type": "Fail", "Error": "Boom", "Cause": "asked to"},
            "OK": {"Type": "Pass", "Parameters": {"ok.$": "$.n"}, "End": True}}})  # fmt: skip


def _ended(sfn: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"still running after {timeout} s")


def _run(sfn: Any, machine: str, payload: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))
    return _ended(sfn, execution["executionArn"], timeout)


def _map(child: str, distributed: bool, **fields: Any) -> dict[str, Any]:
    processor: dict[str, Any] = {
        "StartAt": "Run", "States": {"Run": {
            "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
            "Parameters": {"StateMachineArn": child, "Input.$": "$"}, "End": True}}}  # fmt: skip
    if distributed:
        processor["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    state = {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": processor, "End": True}
    return {"StartAt": "M", "States": {"M": {**state, **fields}}}


def test_an_execution_started_without_a_name_is_named_with_a_uuid(sfn: Any) -> None:
    # API reference, StartExecution: "If you don't provide a name for the execution, Step
    # Functions automatically generates a universally unique identifier (UUID)"
    child = _child(sfn)
    first = sfn.start_execution(stateMachineArn=child, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=child, input="{}")["executionArn"]
    assert first != second
    assert len(first.rsplit(":", 1)[1]) == 36


def test_a_child_execution_runs_to_its_end_and_its_output_comes_back_parsed(sfn: Any) -> None:
    # Developer guide, "Start a new AWS Step Functions state machine from a running
    # execution": PascalCase parameters; `.sync:2` answers DescribeExecution's fields with
    # Output as JSON; a failed child fails the task with States.TaskFailed
    parent = _machine(sfn, "parent", _map(_child(sfn), distributed=False))
    done = _run(sfn, parent, {"items": [{"n": 1}, {"n": 2}]})
    assert done["status"] == "SUCCEEDED", done
    outputs = json.loads(done["output"])
    assert [o["Output"] for o in outputs] == [{"ok": 1}, {"ok": 2}]
    assert {o["Status"] for o in outputs} == {"SUCCEEDED"}
    failed = _run(sfn, parent, {"items": [{"n": 1, "fail": True}]})
    assert (failed["status"], failed["error"]) == ("FAILED", "States.TaskFailed")
    assert json.loads(failed["cause"])["Error"] == "Boom"


def test_a_distributed_map_fails_once_its_tolerated_failures_are_exceeded(sfn: Any) -> None:
    # Developer guide, "Setting failure thresholds for Distributed Map states": the Map Run
    # fails with States.ExceedToleratedFailureThreshold past ToleratedFailurePercentage (or
    # Count); none tolerated when neither is set
    child = _child(sfn)
    items = [{"n": 1, "fail": True}, {"n": 2}, {"n": 3}, {"n": 4}]
    tolerant = _machine(sfn, "tolerant", _map(child, True, ToleratedFailurePercentage=30.0))
    strict = _machine(sfn, "strict", _map(child, True))
    counted = _machine(sfn, "counted", _map(child, True, ToleratedFailureCount=1))
    assert _run(sfn, tolerant, {"items": items})["status"] == "SUCCEEDED"  # 25 % <= 30 %
    assert _run(sfn, counted, {"items": items})["status"] == "SUCCEEDED"  # 1 <= 1
    over = _run(sfn, strict, {"items": items})
    assert (over["status"], over["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    two = [{"n": 1, "fail": True}, {"n": 2, "fail": True}, {"n": 3}, {"n": 4}]
    assert _run(sfn, counted, {"items": two})["error"] == "States.ExceedToleratedFailureThreshold"


def test_a_map_run_past_its_threshold_starts_no_more_items(sfn: Any) -> None:
    child = _child(sfn)
    one_at_a_time = _machine(sfn, "serial", _map(child, True, MaxConcurrency=1))
    items = [{"n": 1, "fail": True}, {"n": 2}, {"n": 3}]
    assert _run(sfn, one_at_a_time, {"items": items})["status"] == "FAILED"
    started = sfn.list_executions(stateMachineArn=child)["executions"]
    assert len(started) == 1


def test_a_reference_path_with_an_index_selects_one_value(sfn: Any) -> None:
    # Amazon States Language, "Reference Paths": `$.a[0].b` selects one node, its value
    machine = _machine(sfn, "choose", {
        "StartAt": "C", "States": {
            "C": {"Type": "Choice", "Default": "No",
                  "Choices": [{"Variable": "$.alarms[0].state", "StringEquals": "ALARM",
                               "Next": "Yes"}]},
            "Yes": {"Type": "Pass", "Parameters": {"state.$": "$.alarms[0].state"}, "End": True},
            "No": {"Type": "Fail", "Error": "NotMatched"}}})  # fmt: skip
    done = _run(sfn, machine, {"alarms": [{"state": "ALARM"}]})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"state": "ALARM"}


def test_an_sdk_integration_answer_with_dates_is_the_states_json_output(
    sfn: Any, embedded: EmbeddedAws
) -> None:
    # The state's output is JSON text; the execution can be described and read afterwards
    embedded.session().client("cloudwatch").put_metric_alarm(
        AlarmName="halt", Namespace="x", MetricName="m", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )  # fmt: skip
    machine = _machine(sfn, "sdk", {"StartAt": "A", "States": {"A": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:cloudwatch:describeAlarms",
        "Parameters": {"AlarmNames": ["halt"]}, "End": True}}})  # fmt: skip
    done = _run(sfn, machine, {})
    assert done["status"] == "SUCCEEDED", done
    alarm = json.loads(done["output"])["MetricAlarms"][0]
    assert alarm["AlarmName"] == "halt"
    assert isinstance(alarm["StateUpdatedTimestamp"], str)


def test_a_fail_state_passes_on_the_service_error_it_caught(sfn: Any) -> None:
    # Amazon States Language, Fail state: ErrorPath names the error the execution ends with,
    # the service's own (States.TaskFailed from a failed child) included
    parent = _machine(sfn, "passes-on", {"StartAt": "Run", "States": {
        "Run": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": _child(sfn), "Input": {"fail": True}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                           "Next": "Failed"}], "End": True},
        "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error",
                   "CausePath": "$.error.Cause"}}})  # fmt: skip
    done = _run(sfn, parent, {})
    assert (done["status"], done["error"]) == ("FAILED", "States.TaskFailed")


def _held(sqs: Any, queue: str, expected: int) -> list[dict[str, Any]]:
    """The items now holding a task token in the queue: exactly `expected` more of them (one
    more would show within the wait)."""
    held: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while len(held) < expected and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        held += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        time.sleep(0.05)
    time.sleep(0.5)
    extra = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert (len(held), len(extra)) == (expected, 0), (held, extra)
    return held


def test_update_map_run_changes_the_concurrency_of_a_running_map(
    sfn: Any, embedded: EmbeddedAws
) -> None:
    # API reference, UpdateMapRun: "Updates an in-progress Map Run's configuration to include
    # changes to the settings that control maximum concurrency and Map Run failure"; the Map
    # Run is found with ListMapRuns (the parent's execution ARN) and read with DescribeMapRun.
    # Developer guide, ItemSelector: its context paths are the Map state's, so $$.Execution.Id
    # is the parent execution.
    sqs = embedded.session().client("sqs")
    queue = sqs.create_queue(QueueName="held")["QueueUrl"]
    machine = _machine(sfn, "held", {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "End": True,
        "ItemSelector": {"n.$": "$$.Map.Item.Value", "parent.$": "$$.Execution.Id"},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Hold", "States": {"Hold": {
                "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {
                    "token.$": "$$.Task.Token", "n.$": "$.n", "parent.$": "$.parent"}},
                "End": True}}}}}})  # fmt: skip
    execution = sfn.start_execution(stateMachineArn=machine, input='{"items": [1, 2, 3, 4, 5]}')
    arn = execution["executionArn"]

    def release(items: list[dict[str, Any]]) -> None:
        for item in items:
            sfn.send_task_success(taskToken=item["token"], output="{}")

    first = _held(sqs, queue, 1)
    assert first[0]["parent"] == arn
    (map_run,) = sfn.list_map_runs(executionArn=arn)["mapRuns"]
    run_arn = map_run["mapRunArn"]
    sfn.update_map_run(mapRunArn=run_arn, maxConcurrency=3)
    assert sfn.describe_map_run(mapRunArn=run_arn)["maxConcurrency"] == 3
    more = _held(sqs, queue, 2)  # three in flight now, not four
    sfn.update_map_run(mapRunArn=run_arn, maxConcurrency=1)
    release(first + more[:1])
    _held(sqs, queue, 0)  # one still in flight: at 1, none starts
    release(more[1:])
    last = _held(sqs, queue, 1)
    release(last)
    release(_held(sqs, queue, 1))
    assert _ended(sfn, arn)["status"] == "SUCCEEDED"
    assert sfn.describe_map_run(mapRunArn=run_arn)["itemCounts"]["succeeded"] == 5


def _loop(sfn: Any, name: str, laps: int) -> str:
    """Counts to `laps` in a Pass and a Choice: four history events a lap."""
    return _machine(sfn, name, {
        "StartAt": "Lap", "States": {
            "Lap": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
                    "Next": "More?"},
            "More?": {"Type": "Choice", "Default": "Done",
                      "Choices": [{"Variable": "$.n", "NumericLessThan": laps, "Next": "Lap"}]},
            "Done": {"Type": "Succeed"}}})  # fmt: skip


def test_an_execution_ends_failed_when_its_history_reaches_25000_events(sfn: Any) -> None:
    """Service quotas: 25,000 events in one execution's history; at 24,999 the next event
    ends it, `ExecutionSucceeded` or else `ExecutionFailed` (best practices, "Starting new
    executions to avoid reaching the history quota")."""

    def last(execution: dict[str, Any]) -> dict[str, Any]:
        events = sfn.get_execution_history(
            executionArn=execution["executionArn"], reverseOrder=True, maxResults=1
        )["events"]
        return dict(events[0])

    # 25,000 events take the embedded interpreter some 20 s alone, minutes beside other tests
    endless = _run(sfn, _loop(sfn, "endless", 10**6), {"n": 0}, timeout=600)
    assert (endless["status"], endless["error"]) == ("FAILED", "States.Runtime"), endless
    assert "25000" in endless["cause"]
    assert (last(endless)["id"], last(endless)["type"]) == (25_000, "ExecutionFailed")


def test_states_all_neither_retries_nor_catches_a_payload_over_256_kib(sfn: Any) -> None:
    """Handling errors: `States.ALL` does not take `States.DataLimitExceeded` (nor
    `States.Runtime`); a Catch that names it does. Service quotas: 256 KiB a state's output."""
    big = "x" * 300_000

    def machine(name: str, errors: list[str]) -> str:
        grow = {"StartAt": "Grow", "States": {
            "Grow": {"Type": "Pass", "Result": {"blob": big}, "End": True}}}  # fmt: skip
        return _machine(sfn, name, {
            "StartAt": "Each", "States": {
                "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": grow,
                         "Next": "Done", "Catch": [{"ErrorEquals": errors, "Next": "Caught"}]},
                "Caught": {"Type": "Pass", "Result": "caught", "End": True},
                "Done": {"Type": "Succeed"}}})  # fmt: skip

    wildcard = _run(sfn, machine("wildcard", ["States.ALL"]), {"items": [1]})
    assert (wildcard["status"], wildcard["error"]) == ("FAILED", "States.DataLimitExceeded")
    named = _run(sfn, machine("named", ["States.DataLimitExceeded"]), {"items": [1]})
    assert named["status"] == "SUCCEEDED", named.get("cause")
    assert "caught" in named["output"]


def test_execution_history_comes_in_pages(sfn: Any) -> None:
    """API reference, GetExecutionHistory: maxResults "The default is 100 and the maximum
    allowed page size is 1000", further pages through nextToken (moto answered all at once)."""
    done = _run(sfn, _loop(sfn, "laps", 60), {"n": 0})
    first = sfn.get_execution_history(executionArn=done["executionArn"])
    assert len(first["events"]) == 100
    assert first["nextToken"]
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=done["executionArn"])
    every = [e["id"] for page in pages for e in page["events"]]
    assert every == list(range(1, 60 * 4 + 5))  # started, four a lap, Succeed's two, ended
    newest = sfn.get_execution_history(
        executionArn=done["executionArn"], reverseOrder=True, maxResults=3
    )
    assert [e["id"] for e in newest["events"]] == [244, 243, 242]
