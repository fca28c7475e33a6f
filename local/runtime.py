"""The simulated Lambda runtime: Step Functions tasks run the project's handlers in-process.

moto's simple Lambda backend (`lambda.use_docker: False`) answers every invoke with its input;
here its `invoke` calls the handler that `deploy` registered for the function, in the
function's environment from template.yaml, and reports a raised error as AWS does (the
`x-amz-function-error` header and an `{errorType, errorMessage}` payload), so `Retry` and
`Catch` match on the error's class name exactly as on AWS.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

_registry: dict[str, FunctionSpec] = {}
_current = threading.local()
# IAM actions each function's code called, as `service:Operation` (tests check the policies):
# with its execution role's credentials, and with any other (a role it assumed)
calls_by_function: dict[str, set[str]] = {}
calls_through_assumed_roles: dict[str, set[str]] = {}
# Every execution role's session keys: one process runs every function here, and a client made
# in one invocation (cached, as a warm Lambda keeps it) may carry an earlier one's keys
_execution_keys: set[str] = set()
# The invocations running now (a number each), for `settled`; the process's log level while any
# runs. Handlers run concurrently, each in the thread that invoked it, as Lambda runs each
# concurrent invocation in its own execution environment.
_running: set[int] = set()
_running_changed = threading.Condition()
_numbers = iter(range(1, 1 << 62))
# Each invocation runs in an execution environment of its function: an idle one, or a new one
# (a cold start) when all are busy, as Lambda scales. What an environment keeps between its
# invocations: the module-level caches (`functools.cache` of no arguments) of the layer (its
# settings, its Powertools logger and metrics), and the loggers named after its service, which
# one process here would otherwise share between every function. The default boto3 session
# (with the credentials of its first invocation) is kept per function.
_idle: dict[str, list[str]] = {}
_loggers: dict[str, logging.Manager] = {}
_sessions: dict[str, Any] = {}
_modules: dict[Path, ModuleType] = {}
_loading = threading.Lock()  # one module load at a time
_installed = False
invocations: list[tuple[str, float]] = []


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    memory_mb: int
    timeout_s: int
    role_arn: str = ""  # the execution role: each invocation runs as its session


def _execution_credentials(spec: FunctionSpec) -> dict[str, str]:
    """The credentials Lambda gives an invocation: a session of the function's execution role
    named after the function (Lambda developer guide, execution role; GetCallerIdentity answers
    `assumed-role/<role>/<function>`), in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
    AWS_SESSION_TOKEN."""
    if not spec.role_arn:
        return {}
    from moto.sts.models import sts_backends

    account, region = spec.role_arn.split(":")[4], spec.arn.split(":")[3]
    session = sts_backends[account]["aws"].assume_role(
        region_name=region, role_session_name=spec.name, role_arn=spec.role_arn,
        policy="", duration=3600, external_id="",
    )  # fmt: skip
    _execution_keys.add(session.access_key_id)
    return {
        "AWS_ACCESS_KEY_ID": session.access_key_id,
        "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
        "AWS_SESSION_TOKEN": session.session_token,
    }


class LambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = "local"
        self._timeout_ms = spec.timeout_s * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


def settled() -> None:
    """Return once every invocation that was running when called has ended (what it wrote and
    published is there to read). A client made in the caller's thread signs as the caller
    whatever runs: each invocation's environment is its own thread's (`_ThreadEnviron`)."""
    with _running_changed:
        waiting = set(_running)
        _running_changed.wait_for(lambda: not (waiting & _running))


def new_containers() -> None:
    """Every function starts afresh, as after a redeploy: its module loaded again (a cold
    start), so nothing a previous container cached (a secret, a client) outlives what it was
    read from."""
    from aws_lambda_powertools.utilities import parameters

    _modules.clear()
    _sessions.clear()
    _idle.clear()
    _loggers.clear()
    for cached in _per_environment:
        cached.clear()
    # in-process, every function shares Powertools' one cache
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def register(spec: FunctionSpec) -> None:
    _registry[spec.name] = spec
    _registry[spec.arn] = spec


def _load(spec: FunctionSpec) -> Callable[[Any, Any], Any]:
    module_name, attribute = spec.handler.rsplit(".", 1)
    path = (spec.code_dir / f"{module_name.replace('.', '/')}.py").resolve()
    module = _modules.get(path)
    if module is None:
        unique = f"v6migrate_function_{spec.code_dir.name}_{module_name}"
        loader_spec = importlib.util.spec_from_file_location(unique, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportError(f"cannot load handler {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[unique] = module
        loader_spec.loader.exec_module(module)
        _modules[path] = module
    handler: Callable[[Any, Any], Any] = getattr(module, attribute)
    return handler


class _ThreadEnviron(os._Environ):  # type: ignore[type-arg]
    """`os.environ` as each thread sees it: during an invocation, the function's variables
    over the process's (Lambda sets them in the function's own execution environment); set or
    deleted there, they change that invocation's view only. Outside any, the process's."""

    @staticmethod
    def _overlay() -> dict[str, str | None] | None:
        return getattr(_current, "env", None)

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is None:
                raise KeyError(key)
            return value
        return str(super().__getitem__(key))

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            super().__setitem__(key, value)
            return
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"str expected, not {type(value).__name__}")
        overlay[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if overlay is None:
            super().__delitem__(key)
            return
        if key not in self:
            raise KeyError(key)
        overlay[key] = None

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay()
        keys = list(super().__iter__())
        if overlay is None:
            yield from keys
            return
        shown = dict(overlay)
        for key in keys:
            if shown.get(key, "") is not None:
                yield key
        for key, value in shown.items():
            if value is not None and key not in keys:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)


def _thread_environ() -> None:
    """Give `os.environ` (and `os.getenv`, which reads it) its per-invocation view, in every
    thread the invocation starts too (a handler's thread pool is in its function's execution
    environment). Idempotent."""
    if isinstance(os.environ, _ThreadEnviron):
        return
    start = threading.Thread.start

    def start_inside(self: threading.Thread) -> None:
        env, function = getattr(_current, "env", None), getattr(_current, "function", None)
        environment = getattr(_current, "environment", None)
        if env is not None:
            run = self.run

            def run_inside() -> None:
                _current.env, _current.function = env, function
                _current.environment = environment
                run()

            self.run = run_inside  # type: ignore[method-assign]
        start(self)

    threading.Thread.start = start_inside  # type: ignore[method-assign]
    old: Any = os.environ
    # the same variables (`_data`) seen through the invocation's view: nothing is cleared
    os.environ = _ThreadEnviron(  # noqa: B003
        old._data, old.encodekey, old.decodekey, old.encodevalue, old.decodevalue
    )


class _PerEnvironment:
    """A layer's `functools.cache` of no arguments, kept per execution environment as Lambda
    keeps a module's state; outside any invocation, the original."""

    def __init__(self, original: Any) -> None:
        self._original = original
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.__wrapped__ = original.__wrapped__
        self.__doc__ = original.__doc__

    def __call__(self) -> Any:
        environment = getattr(_current, "environment", None)
        if environment is None:
            return self._original()
        with self._lock:
            if environment not in self._values:
                self._values[environment] = self.__wrapped__()
            return self._values[environment]

    def cache_clear(self) -> None:
        """The calling environment's value (a fresh start of it), or every one."""
        environment = getattr(_current, "environment", None)
        with self._lock:
            if environment is None:
                self._values.clear()
            else:
                self._values.pop(environment, None)
        if environment is None:
            self._original.cache_clear()

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
        self._original.cache_clear()


_per_environment: list[_PerEnvironment] = []
# Kept for the process, not per environment: botocore's data loader, which holds the service
# models it parsed (read-only data, the same in every environment; EC2's alone takes a quarter
# of a second to parse). On Lambda an environment parses each once, at its first client; here
# environments come and go with every concurrent invocation and every `new_containers`, and
# parsing them again each time simulates nothing.
_PROCESS_WIDE = {("v6migrate.aws", "botocore_loader")}


def _caches_per_environment() -> None:
    """Every zero-argument `functools.cache` of the layer's loaded modules, made per function."""
    for name, module in list(sys.modules.items()):
        if not (name == "v6migrate" or name.startswith("v6migrate.")) or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, _PerEnvironment) or not hasattr(value, "cache_clear"):
                continue
            if (name, attribute) in _PROCESS_WIDE:
                continue
            wrapped = getattr(value, "__wrapped__", None)
            if wrapped is None or inspect.signature(wrapped).parameters:
                continue
            cached = _PerEnvironment(value)
            _per_environment.append(cached)
            setattr(module, attribute, cached)


def _default_session() -> Any:
    """boto3's default session, one per function (Lambda: one per execution environment), so
    `boto3.client(...)` signs with the calling function's role, not the first caller's."""

    function = getattr(_current, "function", None)
    if function is None:
        return _original_default_session()
    with _running_changed:
        session = _sessions.get(function)
        if session is None:
            # its service models from the process's loader (`_PROCESS_WIDE`)
            from v6migrate.aws import new_session

            session = _sessions[function] = new_session()
    return session


_original_default_session: Callable[[], Any] = lambda: None  # noqa: E731


def _service_logger(name: str | None = None) -> logging.Logger:
    """`logging.getLogger`, except that in an invocation the loggers of its function's
    Powertools service (`POWERTOOLS_SERVICE_NAME`, which Powertools names its logger after) are
    its execution environment's own: on Lambda each environment is a process of its own, and
    here one shared logger would carry one invocation's context keys into another's lines."""
    environment = getattr(_current, "environment", None)
    if environment is not None and name:
        service = os.environ.get("POWERTOOLS_SERVICE_NAME") or "service_undefined"
        if name == service or name.startswith(f"{service}."):
            with _running_changed:
                manager = _loggers.get(environment)
                if manager is None:
                    manager = _loggers[environment] = logging.Manager(
                        logging.RootLogger(logging.WARNING)
                    )
            return manager.getLogger(name)
    return _original_get_logger(name)


_original_get_logger = logging.getLogger


def _defined_variables(spec: FunctionSpec) -> dict[str, str]:
    """The variables Lambda sets in every function's environment (Lambda developer guide,
    "Defined runtime environment variables"), which a function's configuration cannot change.
    LAMBDA_TASK_ROOT is left out: Powertools' Tracer takes it for "on Lambda" and would send
    to an X-Ray daemon, which the embedded AWS has not (as `sam local` does, it stays off)."""
    region = spec.arn.split(":")[3]
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    }


@contextmanager
def _environment(spec: FunctionSpec, values: dict[str, str]) -> Iterator[None]:
    """An execution environment of the function, in this thread, for one invocation: an idle
    one or a new one; its variables over the process's, its name for the per-environment state
    above."""
    outer = (
        getattr(_current, "env", None),
        getattr(_current, "function", None),
        getattr(_current, "environment", None),
    )
    with _running_changed:
        number = next(_numbers)
        _running.add(number)
        idle = _idle.setdefault(spec.name, [])
        environment = idle.pop() if idle else f"{spec.name}#{number}"
    _current.env = dict(values)
    _current.function = spec.name
    _current.environment = environment
    try:
        yield
    finally:
        _current.env, _current.function, _current.environment = outer
        with _running_changed:
            _running.discard(number)
            _idle.setdefault(spec.name, []).append(environment)
            _running_changed.notify_all()


_tracers = threading.local()


def untraced(serve: Callable[..., Any]) -> Callable[..., Any]:
    """`serve` (a server thread's work) with the process's trace function off: while a test
    run measures coverage, the embedded AWS's own code (moto: most of what runs) is not
    measured, yet its tracer's call for every frame doubled every run. `_measured` puts it back
    for the functions' code. Without a trace function, `serve` unchanged."""

    def serving(*args: Any, **kwargs: Any) -> Any:
        tracer = sys.gettrace()
        if tracer is None:
            return serve(*args, **kwargs)
        _tracers.saved = tracer
        sys.settrace(None)
        try:
            return serve(*args, **kwargs)
        finally:
            sys.settrace(tracer)

    return serving


def untraced_in_process() -> None:
    """moto in the calling process (`mock_aws`: the unit tests') answers untraced too, for the
    reason `untraced` gives; the code that calls it is measured as before. Idempotent."""
    from moto.core.botocore_stubber import BotocoreStubber

    if getattr(BotocoreStubber.__call__, "untraced", False):
        return
    answer = untraced(BotocoreStubber.__call__)
    answer.untraced = True  # type: ignore[attr-defined]
    BotocoreStubber.__call__ = answer  # type: ignore[method-assign]


@contextmanager
def _measured() -> Iterator[None]:
    """A handler's code traced (measured) as the thread's code was before `untraced`."""
    tracer = getattr(_tracers, "saved", None)
    if tracer is None or sys.gettrace() is not None:
        yield
        return
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(None)


class _FunctionOutput:
    """`sys.stdout` while the functions' output is sent elsewhere (`function_output`): what an
    invocation writes (its log lines, its metrics) goes there, as on AWS it goes to the
    function's log group and not to whoever started the run; the rest, to the process's."""

    def __init__(self, process: Any, functions: Any) -> None:
        self._process, self._functions = process, functions

    def _target(self) -> Any:
        return self._functions if getattr(_current, "function", None) else self._process

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._process, name)


def function_output(stream: Any) -> None:
    """Send what the functions print (stdout and stderr) to `stream` from now on: for a CLI
    that tells a story of its own, such as the demo. By default it goes to the process's
    stdout and stderr, as `sam local` shows it."""
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        process = current._process if isinstance(current, _FunctionOutput) else current
        setattr(sys, name, _FunctionOutput(process, stream))


def invoke(function: str, payload: bytes | str | None, response_headers: dict[str, Any]) -> bytes:
    spec = _registry.get(function) or _registry.get(function.split(":")[-1])
    if spec is None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(
            {"errorType": "ResourceNotFoundException", "errorMessage": f"no function {function}"}
        ).encode()
    event = json.loads(payload) if payload else {}
    _thread_environ()
    started = time.perf_counter()
    try:
        variables = {**spec.environment, **_defined_variables(spec), **_execution_credentials(spec)}
        with _environment(spec, variables), _measured():
            # Loaded inside the environment: Powertools reads its settings at import time.
            with _loading:
                _caches_per_environment()  # before a handler's import makes its instruments
                handler = _load(spec)
                _caches_per_environment()
            result = handler(event, LambdaContext(spec))
    except Exception as error:
        response_headers["x-amz-function-error"] = "Unhandled"
        logging.getLogger("local.runtime").debug("handler raised", exc_info=True)
        return json.dumps(
            {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error)[-3:],
            }
        ).encode()
    finally:
        invocations.append((spec.name, time.perf_counter() - started))
    return json.dumps(result).encode()


def install() -> None:
    """Route moto's simple Lambda backend to `invoke`. Idempotent."""
    global _installed
    if _installed:
        return
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def simple_invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        return invoke(function_name, body, response_headers)

    LambdaSimpleBackend.invoke = simple_invoke  # type: ignore[method-assign]
    global _original_default_session
    import boto3

    _original_default_session = boto3._get_default_session
    boto3._get_default_session = _default_session
    logging.getLogger = _service_logger
    _thread_environ()
    _record_calls()
    _installed = True


def _record_calls() -> None:
    """Note every AWS call a handler makes, as the IAM action it needs."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def make_api_call(self: Any, operation_name: str, api_params: Any) -> Any:
        function = getattr(_current, "function", None)
        if function:
            prefix = self.meta.service_model.endpoint_prefix
            credentials = self._request_signer._credentials
            key = credentials.get_frozen_credentials().access_key if credentials else None
            own = key in _execution_keys
            into = calls_by_function if own else calls_through_assumed_roles
            into.setdefault(function, set()).add(f"{prefix}:{operation_name}")
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = make_api_call  # type: ignore[attr-defined]


class _SimulatedTime:
    """`time` as a handler's polls see it inside the embedded AWS: `monotonic` is the
    simulated clock, and `sleep` moves that clock on (yielding the thread for a moment, so the
    server's other threads run)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def monotonic() -> float:
        from local.gaps.timing import CLOCK

        return CLOCK.now()

    @staticmethod
    def sleep(seconds: float) -> None:
        from local.gaps.timing import CLOCK

        CLOCK.skip(seconds)
        time.sleep(min(seconds, 0.002))


def fast_forward() -> None:
    """Wait states and retry back-off take no time: a run takes seconds, its logic unchanged.

    DOMAIN.md: patch the Wait state's interval and the retrier's `time` reference; patching
    `time.sleep` globally livelocks the interpreter's thread.
    """
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    class _NoSleep:
        def __getattr__(self, name: str) -> Any:
            return getattr(time, name)

        @staticmethod
        def sleep(seconds: float) -> None:
            return None

    from local.gaps.timing import CLOCK

    def no_wait(self: Any, env: Any, wait_seconds: int) -> None:
        # The simulated clock of long operations moves on as if the Wait had passed.
        CLOCK.skip(wait_seconds)

    wait_function.WaitFunction._wait_interval = no_wait  # type: ignore[method-assign]
    retrier_decl.time = _NoSleep()  # type: ignore[attr-defined,assignment]
    # A stage's own polls (`context.wait_until`) wait on the simulated clock too: its sleep
    # moves the clock on by the interval instead of passing it, and its deadline is read from
    # that clock, so a transition of a few simulated seconds (`timing.DURATIONS`) is polled as
    # on AWS, interval doubling and poll timeout included, in a fraction of the time.
    from v6migrate import context

    context.time = _SimulatedTime()  # type: ignore[assignment,attr-defined]
    # And so does the SDK's back-off between retries of a throttled call (botocore's endpoint
    # sleeps the delay its retry handler chose): the same retries, the delays on the clock.
    from botocore import endpoint

    endpoint.time = _SimulatedTime()  # type: ignore[attr-defined]
    # A Fail state logs an ERROR from the interpreter: it is the workflow's outcome, not ours.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)


def quiet() -> None:
    """No per-request access log from the embedded server."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
