"""The simulated Lambda runtime: Step Functions tasks run the project's handlers in-process.

moto's simple Lambda backend (`lambda.use_docker: False`) answers every invoke with its input;
here its `invoke` calls the handler that `deploy` registered for the function, in the
function's environment from template.yaml, and reports a raised error as AWS does (the
`x-amz-function-error` header and an `{errorType, errorMessage}` payload), so `Retry` and
`Catch` match on the error's class name exactly as on AWS.
"""

from __future__ import annotations

import importlib.util
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
_env_lock = threading.RLock()
_modules: dict[Path, ModuleType] = {}
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
    """Return once no invocation runs. While one does, its credentials are in this process's
    environment (as Lambda gives them), so a boto3 session made then by a test or the CLI in
    the same process would sign as that function, not as itself."""
    with _env_lock:
        pass


def new_containers() -> None:
    """Every function starts afresh, as after a redeploy: its module loaded again (a cold
    start), so nothing a previous container cached (a secret, a client) outlives what it was
    read from."""
    from aws_lambda_powertools.utilities import parameters

    _modules.clear()
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


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The function's environment, for the duration of one invocation (one at a time).

    Afterwards each variable that was set gets its value back, and none is deleted: another
    thread of this process (the state machines' interpreter, an asynchronous invocation's
    caller) may be iterating `os.environ`, and a key deleted under it raises KeyError there
    (seen as `'POWERTOOLS_SERVICE_NAME'` failing a state). A variable the process did not have
    is emptied instead, which boto3 and `aws.settings()` read as unset.
    """
    with _env_lock:
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        from v6migrate import aws
        from v6migrate.observability import logger

        aws.settings.cache_clear()  # a fresh "cold start" reads this function's settings
        # Powertools reads the level once, when the logger is made: on Lambda that is in this
        # environment; here the process made it before, so set it as that start would have
        level = logger.log_level
        logger.setLevel(values.get("POWERTOOLS_LOG_LEVEL", level))
        try:
            yield
        finally:
            logger.setLevel(level)
            for key, old in saved.items():
                os.environ[key] = "" if old is None else old
            aws.settings.cache_clear()


def invoke(function: str, payload: bytes | str | None, response_headers: dict[str, Any]) -> bytes:
    spec = _registry.get(function) or _registry.get(function.split(":")[-1])
    if spec is None:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(
            {"errorType": "ResourceNotFoundException", "errorMessage": f"no function {function}"}
        ).encode()
    event = json.loads(payload) if payload else {}
    started = time.perf_counter()
    try:
        with _environment({**spec.environment, **_execution_credentials(spec)}):
            # Loaded inside the environment: Powertools reads its settings at import time.
            handler = _load(spec)
            _current.function = spec.name
            try:
                result = handler(event, LambdaContext(spec))
            finally:
                _current.function = None
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
