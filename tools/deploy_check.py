"""What `make deploy` checks before it builds: that the account can take the stack as it is.

- API Gateway's CloudWatch Logs role. The API's stage writes an access log, and API Gateway
  refuses to create such a stage where the account (in that Region) has no CloudWatch Logs role
  set (`GetAccount` answers no `cloudwatchRoleArn`): the whole stack would roll back.
- The external id parameter the environment names (samconfig.toml's
  `ExternalIdParameterName`), which the functions read at run time.

Each failure is one line saying what to do; exit 1. With both in place, exit 0.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parents[1]


def overrides(env: str, config: Path = ROOT / "samconfig.toml") -> dict[str, str]:
    """The parameter overrides of `env` in samconfig.toml."""
    found = tomllib.loads(config.read_text())[env]["deploy"]["parameters"]
    return dict(item.split("=", 1) for item in str(found.get("parameter_overrides", "")).split())


def problems(session: Any, env: str) -> list[str]:
    region = session.region_name
    found: list[str] = []
    role = session.client("apigateway").get_account().get("cloudwatchRoleArn")
    if not role:
        found.append(
            f"API Gateway has no CloudWatch Logs role in this account ({region}), and the "
            "API's access log needs one: set it once (docs/runbook.md, 'The REST API')"
        )
    name = overrides(env).get("ExternalIdParameterName", "/v6migrate/external-id")
    try:
        session.client("ssm").get_parameter(Name=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
        found.append(f"no external id parameter {name} in {region}: create it first (README, "
                     "'Deploy')")  # fmt: skip
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-env", default="dev")
    args = parser.parse_args(argv)
    try:
        found = problems(boto3.Session(), args.config_env)
    except (ClientError, BotoCoreError) as error:
        print(f"error: cannot check the account before deploying: {error}", file=sys.stderr)
        return 1
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
