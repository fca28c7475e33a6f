"""The in-process Lambda runtime of the embedded AWS (local/runtime.py): a function runs with
its own environment and credentials, and the process gets its own back without a variable
ever being deleted, since other threads (the state machines' interpreter) may be iterating
os.environ meanwhile."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
    # never deleted (a reader iterating os.environ in another thread would get a KeyError):
    # emptied, which boto3 and aws.settings() read as unset
    assert os.environ["V6T_ONLY_HERE"] == ""
    monkeypatch.delenv("V6T_ONLY_HERE")
