"""The in-process Lambda runtime of the embedded AWS (local/runtime.py). Lambda runs each
concurrent invocation in an execution environment of its own (Lambda developer guide, "Lambda
execution environment" and "Understanding Lambda function scaling": one environment serves
one request at a time; more at once, more environments), each with the function's
variables and its execution role's credentials (AWS_ACCESS_KEY_ID and the rest, "Defined
runtime environment variables"), and its module state kept between the invocations it serves.
Here: invocations run at once, each in its own thread with the function's variables over the
process's, a boto3 default session and the layer's caches per function; the process's own
variables are never changed, since other threads (the interpreter, a test) read them."""

from __future__ import annotations

import inspect
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from local import runtime


@pytest.fixture
def echo_function(tmp_path: Path) -> runtime.FunctionSpec:
    (tmp_path / "app.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        "    return {k: os.environ.get(k) for k in ('V6T_ONLY_HERE', 'V6T_SHARED')}\n"
    )
    spec = runtime.FunctionSpec(
        name="v6t-echo", arn="arn:aws:lambda:eu-west-1:123456789012:function:v6t-echo",
        code_dir=tmp_path, handler="app.handler",
        environment={"V6T_ONLY_HERE": "function", "V6T_SHARED": "function"},
        memory_mb=128, timeout_s=3,
    )  # fmt: skip
    runtime.register(spec)
    return spec


def test_a_function_sees_its_environment_and_the_process_gets_its_own_back_undeleted(
    echo_function: runtime.FunctionSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("V6T_SHARED", "process")
    monkeypatch.delenv("V6T_ONLY_HERE", raising=False)
    answer = json.loads(runtime.invoke(echo_function.name, b"{}", {}))
    assert answer == {"V6T_ONLY_HERE": "function", "V6T_SHARED": "function"}
    assert os.environ["V6T_SHARED"] == "process"
    assert "V6T_ONLY_HERE" not in os.environ


def _function(tmp_path: Path, name: str, code: str, **environment: str) -> runtime.FunctionSpec:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "app.py").write_text(code)
    spec = runtime.FunctionSpec(
        name=name, arn=f"arn:aws:lambda:eu-west-1:123456789012:function:{name}",
        code_dir=folder, handler="app.handler", environment=environment,
        memory_mb=128, timeout_s=3,
    )  # fmt: skip
    runtime.register(spec)
    return spec


def _at_once(*names: str) -> list[dict[str, Any]]:
    """Invoke each function from a thread of its own, all at once (as a Map's items do)."""
    answers: dict[str, dict[str, Any]] = {}

    def call(name: str) -> None:
        headers: dict[str, Any] = {}
        answers[name] = {**json.loads(runtime.invoke(name, b"{}", headers)), **headers}

    threads = [threading.Thread(target=call, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return [answers[name] for name in names]


# Each handler waits at a barrier for the other: only invocations that run at once both pass.
TOGETHER = """
import os, threading, boto3
from v6migrate import aws
BARRIER = None
def handler(event, context):
    global BARRIER
    first = aws.settings().ledger_table
    BARRIER.wait(10)
    sts = boto3.client("sts", region_name="eu-west-1")
    return {"table": first, "again": aws.settings().ledger_table,
            "mine": os.environ.get("V6T_MINE"), "key": sts._request_signer._credentials.access_key}
"""


def test_invocations_run_at_once_each_with_its_own_variables_session_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _function(tmp_path, "v6t-a", TOGETHER, V6MIGRATE_LEDGER_TABLE="table-a", V6T_MINE="a",
                  AWS_ACCESS_KEY_ID="AKIDA", AWS_SECRET_ACCESS_KEY="s")  # fmt: skip
    b = _function(tmp_path, "v6t-b", TOGETHER, V6MIGRATE_LEDGER_TABLE="table-b",
                  AWS_ACCESS_KEY_ID="AKIDB", AWS_SECRET_ACCESS_KEY="s")  # fmt: skip
    monkeypatch.setenv("V6T_MINE", "process")
    process = boto3.Session(aws_access_key_id="AKIDPROCESS", aws_secret_access_key="s")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", process)  # the process's, made before
    barrier = threading.Barrier(2)
    for spec in (a, b):  # loaded, then given the one barrier both wait at
        runtime._load(spec).__globals__["BARRIER"] = barrier
    runtime.install()
    first, second = _at_once(a.name, b.name)
    assert "x-amz-function-error" not in first, first  # the barrier broke: not at once
    assert first == {"table": "table-a", "again": "table-a", "mine": "a", "key": "AKIDA"}
    assert second == {"table": "table-b", "again": "table-b", "mine": "process", "key": "AKIDB"}
    assert os.environ["V6T_MINE"] == "process"
    assert boto3.client("sts", region_name="eu-west-1")._request_signer._credentials.access_key == (
        "AKIDPROCESS"
    )


def test_settled_waits_for_the_invocations_running_when_asked_only(tmp_path: Path) -> None:
    spec = _function(tmp_path, "v6t-slow", "import threading\nGO = threading.Event()\n"
                     "def handler(event, context):\n    GO.wait(10)\n    return {}\n")  # fmt: skip
    go = runtime._load(spec).__globals__["GO"]
    caller = threading.Thread(target=runtime.invoke, args=(spec.name, b"{}", {}))
    caller.start()
    while not runtime._running:
        time.sleep(0.01)
    settled = threading.Thread(target=runtime.settled)
    settled.start()
    settled.join(0.3)
    assert settled.is_alive()  # the invocation still runs
    go.set()
    settled.join(10)
    caller.join(10)
    assert not settled.is_alive()


def test_a_thread_a_handler_starts_sees_the_functions_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every thread of an execution environment is in the function's environment (a handler's
    # thread pool signs with the execution role and reads the function's variables).
    spec = _function(tmp_path, "v6t-pool", "\n".join([
        "import os",
        "from concurrent.futures import ThreadPoolExecutor",
        "from v6migrate import aws",
        "def read(_):",
        "    return [os.environ.get('V6T_MINE'), aws.settings().ledger_table]",
        "def handler(event, context):",
        "    with ThreadPoolExecutor(2) as pool:",
        "        return {'seen': list(pool.map(read, range(2)))}",
    ]), V6MIGRATE_LEDGER_TABLE="table-pool", V6T_MINE="pool")  # fmt: skip
    monkeypatch.setenv("V6T_MINE", "process")
    runtime.install()
    answer = json.loads(runtime.invoke(spec.name, b"{}", {}))
    assert answer == {"seen": [["pool", "table-pool"], ["pool", "table-pool"]]}, answer


# Logs and counts between two barriers: both invocations have begun (their context is in their
# logger) before either writes.
INSTRUMENTED = """
from v6migrate.observability import entrypoint, logger, metrics
BARRIER = None
@entrypoint
def handler(event, context):
    BARRIER.wait(10)
    logger.info("working")
    metrics.add_metric(name="Calls", unit="Count", value=1)
    BARRIER.wait(10)
    return {}
"""


def test_each_function_logs_and_counts_with_its_own_powertools_settings_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a process that used the layer's logger first, with none of the functions' settings
    for name in ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    from v6migrate import observability

    observability.logger.info("the process's own line")
    # and two functions of one service (template.yaml's Globals name one for all)
    a = _function(tmp_path, "v6t-log-a", INSTRUMENTED, POWERTOOLS_SERVICE_NAME="v6t-svc",
                  POWERTOOLS_METRICS_NAMESPACE="ns-a")  # fmt: skip
    b = _function(tmp_path, "v6t-log-b", INSTRUMENTED, POWERTOOLS_SERVICE_NAME="v6t-svc",
                  POWERTOOLS_METRICS_NAMESPACE="ns-b")  # fmt: skip
    barrier = threading.Barrier(2)
    for spec in (a, b):
        inspect.unwrap(runtime._load(spec)).__globals__["BARRIER"] = barrier
    runtime.install()
    capsys.readouterr()
    # When both run at once
    answers = _at_once(a.name, b.name)
    # Then each ran (no "Must contain a metric namespace"), logged as itself under its service,
    # and published its metric in its namespace
    assert all("x-amz-function-error" not in answer for answer in answers), answers
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{")]  # fmt: skip
    logged = {(line["service"], line["function_name"]) for line in lines
              if line.get("message") == "working"}  # fmt: skip
    assert logged == {("v6t-svc", a.name), ("v6t-svc", b.name)}
    published = sorted(line["_aws"]["CloudWatchMetrics"][0]["Namespace"] for line in lines
                       if "Calls" in line)  # fmt: skip
    assert published == ["ns-a", "ns-b"]
