"""Step Functions as the API reference documents it, where moto differs."""

from __future__ import annotations

import importlib
import threading
from typing import Any

from moto.core.responses import ActionResult


def history_in_either_order() -> None:
    """GetExecutionHistory's `reverseOrder` (API reference: "Lists events in descending order of
    their timeStamp"): moto's answer is always oldest first, so a reader of the latest state
    (GET /migrations/{id}) saw the first one. And its pages: `maxResults` "The default is 100
    and the maximum allowed page size is 1000", further pages through `nextToken`; moto
    answered every event at once, so a reader of the first 1,000 events saw the whole run
    here and only its beginning on AWS."""
    import base64
    import json

    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.get_execution_history
    if getattr(original, "_v6migrate", False):
        return

    def get_execution_history(self: Any) -> Any:
        result = original(self)
        history = result.result if isinstance(result, ActionResult) else None
        if not isinstance(history, dict):
            return result
        events = list(history["events"])
        if self._get_param("reverseOrder"):
            events.reverse()
        size = min(int(self._get_param("maxResults") or 0) or 100, 1000)
        token = self._get_param("nextToken")
        start = int(json.loads(base64.b64decode(token))["offset"]) if token else 0
        page = {**history, "events": events[start : start + size]}
        page.pop("nextToken", None)
        if start + size < len(events):
            page["nextToken"] = base64.b64encode(
                json.dumps({"offset": start + size}).encode()
            ).decode()
        return ActionResult(page)

    get_execution_history._v6migrate = True  # type: ignore[attr-defined]
    StepFunctionResponse.get_execution_history = get_execution_history  # type: ignore[method-assign]


def executions_without_a_name_get_one() -> None:
    """StartExecution's `name` is optional: "If you don't provide a name for the execution,
    Step Functions automatically generates a universally unique identifier (UUID)" (API
    reference). moto named every such execution `None`, so a second one "already existed"
    (a schedule's or a Map's child runs, a console start)."""
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution
    if getattr(original, "_v6migrate", False):
        return

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any,
                        **kwargs: Any) -> Any:  # fmt: skip
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    start_execution._v6migrate = True  # type: ignore[attr-defined]
    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


def _pascal(value: Any) -> Any:
    """Top-level response fields as the optimized integrations name them: ExecutionArn,
    StartDate, Output (the first letter upper-cased); a date as epoch milliseconds, as the
    state's JSON output carries it."""
    import datetime

    def plain(item: Any) -> Any:
        if isinstance(item, datetime.datetime):
            return int(item.timestamp() * 1000)
        return item

    if isinstance(value, dict):
        return {(k[:1].upper() + k[1:]): plain(v) for k, v in value.items()}
    return value


def sfn_integration_speaks_pascal_case() -> None:
    """The optimized Step Functions integration (`arn:aws:states:::states:startExecution`,
    `.sync`, `.sync:2`) takes the API's parameters in PascalCase (`StateMachineArn`, `Input`,
    `Name`) and answers in PascalCase (`ExecutionArn`, `StartDate`; after `.sync:2` the
    DescribeExecution fields with `Output` as JSON): Step Functions developer guide, "Start a
    new AWS Step Functions state machine from a running execution". moto's interpreter handed
    the PascalCase names to botocore, whose serializer has only the camelCase ones, so every
    child execution failed with `States.Runtime` `'StateMachineArn'`."""
    import botocore.session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn_service,
    )

    task = sfn_service.StateTaskServiceSfn
    if getattr(task._eval_service_task, "_v6migrate", False):
        return
    model = botocore.session.get_session().get_service_model("stepfunctions")
    original_eval = task._eval_service_task
    original_response = task._normalise_response

    def _eval_service_task(  # the interpreter passes these by name
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Any:
        operation = model.operation_model(
            "".join(p.capitalize() for p in self._get_boto_service_action().split("_"))
        )
        shape = operation.input_shape
        members = {name.lower(): name for name in (shape.members if shape else {})}
        renamed = {members.get(k.lower(), k): v for k, v in normalised_parameters.items()}
        normalised_parameters.clear()
        normalised_parameters.update(renamed)
        result = original_eval(
            self, env, resource_runtime_part, normalised_parameters, state_credentials
        )
        if env.stack and isinstance(env.stack[-1], dict):
            env.stack[-1] = _pascal(env.stack[-1])
        return result

    def _normalise_response(self: Any, response: Any, *args: Any, **kwargs: Any) -> None:
        original_response(self, response, *args, **kwargs)
        if isinstance(response, dict):
            pascal = _pascal(response)
            response.clear()
            response.update(pascal)

    _eval_service_task._v6migrate = True  # type: ignore[attr-defined]
    task._eval_service_task = _eval_service_task  # type: ignore[method-assign]
    task._normalise_response = _normalise_response  # type: ignore[method-assign]


def map_iterations_fail_with_states_errors() -> None:
    """An iteration that fails with one of the service's own errors (`States.TaskFailed` from
    a failed child execution, `States.Timeout`) fails its Map with that error, as Catchers
    and Retriers on the Map expect (Amazon States Language, "Errors"); a Fail state whose
    `ErrorPath` names such an error (the migration's `MigrationFailed` passes on the error it
    caught) ends the execution with it. moto's interpreter took every such error for a custom
    one and refused the `States.` prefix: the Map, or the execution, failed with
    `States.Runtime` or `ValueError(Custom Error Names MUST NOT begin with ...)` instead."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
        CustomErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        iteration_worker,
    )
    from moto.stepfunctions.parser.asl.component.state.fail import state_fail

    if getattr(iteration_worker.CustomErrorName, "_v6migrate", False):  # type: ignore[attr-defined]
        return

    def error_name(error_name: str | None) -> Any:
        if error_name and error_name.startswith("States."):
            try:
                return StatesErrorName.from_name(error_name)
            except ValueError:
                pass
        return CustomErrorName(error_name)

    error_name._v6migrate = True  # type: ignore[attr-defined]
    iteration_worker.CustomErrorName = error_name  # type: ignore[attr-defined,assignment]
    state_fail.CustomErrorName = error_name  # type: ignore[attr-defined,assignment]


def map_runs_fail_past_their_tolerance() -> None:
    """A Distributed Map's Map Run fails with `States.ExceedToleratedFailureThreshold` once
    more items have failed than `ToleratedFailureCount`, or a larger share of its items than
    `ToleratedFailurePercentage`, allows (either, if both are set; none tolerated if neither
    is), and starts no item after that (Step Functions developer guide, "Setting failure
    thresholds for Distributed Map states"). The thresholds read are the Map Run's current
    ones, so an UpdateMapRun takes effect for the items still to finish. moto counted the
    failed items and let the Map succeed with `null` in their place."""
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        itemprocessor,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    worker = importlib.import_module(
        f"{itemprocessor.__name__}.distributed_item_processor_worker"
    ).DistributedItemProcessorWorker
    original = worker._eval_job
    if getattr(original, "_v6migrate", False):
        return

    def _eval_job(self: Any, env: Any, job: Any) -> None:
        original(self, env, job)
        record = self._map_run_record
        failed = record.item_counter.failed.get() + record.item_counter.timed_out.get()
        total = self._job_pool._jobs_number
        count = record.tolerated_failure_count or 0
        share = record.tolerated_failure_percentage or 0.0
        over_count = failed > count if record.tolerated_failure_count or not share else False
        over_share = (100.0 * failed / total > share) if share else False
        if failed and (over_count or over_share):
            name = StatesErrorNameType.StatesExceedToleratedFailureThreshold
            job.job_output = FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=name),
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(  # type: ignore[typeddict-item]
                        mapRunFailedEventDetails=MapRunFailedEventDetails(
                            error=name.to_name(),
                            cause="The specified tolerated failure threshold was exceeded: "
                            f"{failed} of {total} items failed",
                        )
                    ),
                )
            )

    def eval(self: Any) -> None:
        # Each worker evaluates in a frame of its own, as the inline workers do: moto's
        # distributed workers shared one stack, so with MaxConcurrency above 1 they popped
        # each other's values (a task's timeout read as another item's input).
        self._eval_pool(job=self._job_pool.next_job(), worker_frame=self._env.open_frame())

    _eval_job._v6migrate = True  # type: ignore[attr-defined]
    worker._eval_job = _eval_job
    worker.eval = eval


class _Gate:
    """Hands a Map Run's items to its workers while fewer than its current `maxConcurrency`
    are in flight (0: no limit), so that an UpdateMapRun applies to the items not yet started
    (raised: more start at once; lowered: none starts until the in-flight ones are below it)."""

    def __init__(self, pool: Any, record: Any) -> None:
        self._take = pool.next_job
        self._pool, self._record = pool, record
        self._running = 0
        self._changed = threading.Condition()

    def next_job(self) -> Any:
        with self._changed:
            while True:
                limit = self._record.max_concurrency
                ended = self._pool.get_worker_exception() is not None or not self._pool._open_jobs
                if ended or not limit or self._running < limit:
                    job = self._take()
                    if job is not None:
                        self._running += 1
                    return job
                # An update only sets the record's fields: read them again shortly.
                self._changed.wait(0.1)

    def done(self) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify_all()


def map_runs_follow_their_current_concurrency() -> None:
    """UpdateMapRun "updates an in-progress Map Run's configuration to include changes to the
    settings that control maximum concurrency and Map Run failure" (API reference): the Map Run
    goes on at the new `maxConcurrency`. moto stored the number and kept the workers it had
    started with, so a raised concurrency (a wave's ramp, an operator's PATCH) changed nothing."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as distributed,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        itemprocessor,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import (
        JobPool,
    )

    component = distributed.DistributedIterationComponent
    if getattr(component._map_run, "_v6migrate", False):
        return
    worker = importlib.import_module(
        f"{itemprocessor.__name__}.distributed_item_processor_worker"
    ).DistributedItemProcessorWorker
    evaluate = worker._eval_job

    def _map_run(self: Any, env: Any, eval_input: Any) -> None:
        items: list[Any] = env.stack.pop()
        pool = JobPool(job_program=self._get_iteration_program(), job_inputs=items)
        gate = _Gate(pool, eval_input.map_run_record)
        pool.next_job = gate.next_job  # type: ignore[method-assign]
        pool._v6migrate_gate = gate  # type: ignore[attr-defined]
        for _ in items:  # one worker per item, each waiting at the gate for its turn
            self._launch_worker(env=env, eval_input=eval_input, job_pool=pool)
        pool.await_jobs()
        failure = pool.get_worker_exception()
        if failure is not None:
            raise failure
        env.stack.append([closed.job_output for closed in pool.get_closed_jobs()])

    def _eval_job(self: Any, env: Any, job: Any) -> None:
        try:
            evaluate(self, env, job)
        finally:
            gate = getattr(self._job_pool, "_v6migrate_gate", None)
            if gate is not None:
                gate.done()

    _map_run._v6migrate = True  # type: ignore[attr-defined]
    component._map_run = _map_run  # type: ignore[method-assign]
    worker._eval_job = _eval_job


def sdk_integration_answers_json() -> None:
    """An AWS SDK integration's answer becomes the state's JSON output, dates included (the
    state's output is JSON text: Amazon States Language, "Input and output processing"); they
    are given as ISO 8601 text here (the form AWS uses is UNCONFIRMED: nothing the workflow
    reads is a date). moto left botocore's datetime objects in the output, so the execution
    could not even be described afterwards (a TypeError, answered as a malformed request)."""
    import datetime

    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as sdk_service,
    )

    task = sdk_service.StateTaskServiceAwsSdk
    original = task._eval_service_task
    if getattr(original, "_v6migrate", False):
        return

    def plain(value: Any) -> Any:
        if isinstance(value, datetime.datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    def _eval_service_task(self: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, env, *args, **kwargs)
        if env.stack:
            env.stack[-1] = plain(env.stack[-1])
        return result

    _eval_service_task._v6migrate = True  # type: ignore[attr-defined]
    task._eval_service_task = _eval_service_task  # type: ignore[method-assign]


def definite_paths_select_one_value() -> None:
    """A reference path (only names and literal indices, e.g. `$.MetricAlarms[0].StateValue`)
    selects one value, and that value is what a Choice compares and Parameters pass (Amazon
    States Language, "Reference Paths"). moto's interpreter wrapped the value in a list
    whenever an index came before the last name, so `StringEquals "ALARM"` never matched and
    the wave's HaltWaves check always let clusters start."""
    import re
    import sys

    from jsonpath_ng.ext.parser import parse
    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.extract_json
    if getattr(original, "_v6migrate", False):
        return
    definite = re.compile(r"^\$(\.[A-Za-z_][\w-]*|\[\d+\])*$")

    def extract_json(path: str, data: Any) -> Any:
        # Only where moto differs: a literal index before the last name. Every other path is
        # left to moto's own code.
        if definite.match(path) and re.search(r"\[\d+\]\.", path):
            matches = parse(path).find(data)
            if len(matches) == 1:
                return matches[0].value
        return original(path, data)

    extract_json._v6migrate = True  # type: ignore[attr-defined]
    json_path.extract_json = extract_json
    for module in list(sys.modules.values()):
        if getattr(module, "extract_json", None) is original:
            module.extract_json = extract_json  # type: ignore[attr-defined]


# Step Functions developer guide, Service quotas: "Maximum execution history size: 25,000
# events in a single state machine execution history"; best practices, "Starting new executions
# to avoid reaching the history quota": at 24,999 events the execution waits for the next one;
# an `ExecutionSucceeded` as event 25,000 ends it well, anything else logs `ExecutionFailed`.
HISTORY_QUOTA = 25_000
_ENDINGS = frozenset({"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted",
                      "ExecutionTimedOut"})  # fmt: skip


def history_ends_at_its_quota() -> None:
    """An execution whose history reaches 25,000 events fails (above). moto's history grew
    without end, so a run that polls long enough to be ended on AWS ran on here. The error
    AWS names is not documented (UNCONFIRMED): `States.Runtime`, the error of a failure the
    execution cannot handle, which no Catch takes."""
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.eval import environment
    from moto.stepfunctions.parser.asl.eval.event import event_manager

    manager = event_manager.EventManager
    original = manager.add_event
    if getattr(original, "_v6migrate", False):
        return
    original_init = environment.Environment.__init__

    original_set_error = environment.Environment.set_error

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.event_manager._v6migrate_execution = self  # frames share their execution's

    def set_error(self: Any, error: Any) -> None:
        # the quota's failure stands: what the interrupted state does next changes nothing
        original_set_error(self, getattr(self.event_manager, "_v6migrate_quota", None) or error)

    def add_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        kind = str(getattr(event_type, "value", event_type))
        count = len(self._history_event_list)
        if getattr(self, "_v6migrate_ended", False):
            return count  # the execution has ended: its history takes nothing more
        if (
            count < HISTORY_QUOTA - 1
            or kind in ("ExecutionSucceeded",)
            or not hasattr(self, "_v6migrate_execution")
        ):  # (moto gathers a Distributed Map's items in one list: each is not held to it)
            return int(original(self, context, event_type, *args, **kwargs))
        self._v6migrate_ended = True
        details = {"error": "States.Runtime",
                   "cause": f"The execution reached the maximum number of history events "
                            f"({HISTORY_QUOTA})."}  # fmt: skip
        if kind == "ExecutionFailed":  # already failing: its own failure is event 25,000
            return int(original(self, context, event_type, *args, **kwargs))
        failed: Any = {"executionFailedEventDetails": details}
        found = int(original(self, context, HistoryEventType.ExecutionFailed, failed))
        self._v6migrate_quota = details
        execution = getattr(self, "_v6migrate_execution", None)
        if execution is not None:
            execution.set_error(details)
        return found

    add_event._v6migrate = True  # type: ignore[attr-defined]
    manager.add_event = add_event  # type: ignore[method-assign]
    environment.Environment.__init__ = __init__  # type: ignore[method-assign]
    environment.Environment.set_error = set_error  # type: ignore[method-assign]


def states_all_leaves_terminal_errors() -> None:
    """`States.ALL` matches any error name but two (developer guide, "Handling errors in Step
    Functions workflows"): a retry or catch on it does not take `States.Runtime`, and
    `States.DataLimitExceeded` (a payload over 256 KiB) is caught only where named. moto's
    wildcard took both, so a run whose state outgrew the quota went to its Catch here and
    ended the execution on AWS, its compensation never run."""
    from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl

    decl = error_equals_decl.ErrorEqualsDecl
    original = decl._eval_body
    if getattr(original, "_v6migrate", False):
        return
    terminal = ("States.Runtime", "States.DataLimitExceeded")

    def _eval_body(self: Any, env: Any) -> None:
        error = env.stack[-1]
        named = {str(getattr(n, "error_name", n)) for n in self.error_names}
        if str(getattr(error, "error_name", error)) in terminal and "States.ALL" in named:
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    _eval_body._v6migrate = True  # type: ignore[attr-defined]
    decl._eval_body = _eval_body  # type: ignore[method-assign]
