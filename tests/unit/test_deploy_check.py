"""`make deploy` stops, in one line each, before an account that cannot take the stack
(tools/deploy_check.py): no API Gateway CloudWatch Logs role, no external id parameter."""

from __future__ import annotations

import boto3
import pytest

from tools.deploy_check import main, problems

ROLE = "arn:aws:iam::123456789012:role/apigateway-logs"


def test_an_account_without_the_logging_role_or_the_external_id_is_stopped(
    moto: None, capsys: pytest.CaptureFixture[str]
) -> None:
    session = boto3.Session(region_name="eu-west-1")
    found = problems(session, "dev")
    assert [p.split(" ")[0:3] for p in found] == [
        ["API", "Gateway", "has"],
        ["no", "external", "id"],
    ]
    assert "/v6migrate/dev/external-id" in found[1]
    # When both are set, nothing stops it
    session.client("apigateway").update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": ROLE}])  # fmt: skip
    session.client("ssm").put_parameter(
        Name="/v6migrate/dev/external-id", Value="x" * 32, Type="SecureString"
    )
    assert problems(session, "dev") == []
    assert main(["--config-env", "dev"]) == 0
    assert main(["--config-env", "prod"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: no external id parameter /v6migrate/external-id in eu-west-1: create it first "
        "(README, 'Deploy')"
    ]
