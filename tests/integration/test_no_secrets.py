"""Nothing a run logs or emits carries the external id, credentials or tokens: a whole demo is
run with the functions logging at DEBUG and every event printed whole, and its output searched."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from local.seed import EXTERNAL_ID
from tooling.demo import LOG_LEVEL

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
# What would give a reader access: the external id, a secret key or session token (the embedded
# STS's tokens start as moto's do), an EKS token or the presigned request it encodes.
SECRETS = {
    "the external id": re.escape(EXTERNAL_ID),
    "a session token": r"FQoGZXIvYXdzE",
    "a secret key field": r"(?i)secret_?access_?key[\"']?\s*[:=]",
    "a session token field": r"(?i)session_?token[\"']?\s*[:=]",
    "an EKS token": r"k8s-aws-v1\.",
    "a presigned signature": r"X-Amz-Signature",
}


# fail-validation runs every stage, the validation and the whole compensation: the most logs
@pytest.mark.parametrize("scenario", ["fail-validation"])
def test_a_whole_demo_logs_and_emits_no_secret(scenario: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    done = subprocess.run(
        [str(BIN / "v6migrate"), "demo", "--scenario", scenario],
        env={**env, LOG_LEVEL: "DEBUG"}, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    # the functions' output goes where the demo says (on AWS, their log group)
    [logs] = re.findall(r"the functions' logs and metrics go to (\S+)", done.stdout)
    output += Path(logs).read_text()
    # the functions' logs (at DEBUG, everything they write) and the events were there to search
    assert '"level":"INFO"' in output.replace(" ", "")
    assert '"function_name":"v6migrate-PreflightFunction"' in output.replace(" ", "")
    assert "   event {" in output
    found = {what: re.findall(pattern, output) for what, pattern in SECRETS.items()}
    assert not {what: hits for what, hits in found.items() if hits}
