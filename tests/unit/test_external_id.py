"""The external id the target role requires is read from SSM Parameter Store at run time (a
SecureString the operator keeps), never carried in the environment or the template; and the
deployed workflow reaches its own account through the target role, as any other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from local.template import load
from tests.unit.conftest import AwsCalls
from v6migrate import aws
from v6migrate.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
NAME = "/v6migrate/external-id"
SECRET = "not-in-any-log-7f3a"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("V6MIGRATE_EXTERNAL_ID_PARAMETER", NAME)
    aws.settings.cache_clear()
    aws._providers.clear()
    yield monkeypatch
    aws._providers.clear()
    aws.settings.cache_clear()


@pytest.fixture
def stored(moto: None, settings: pytest.MonkeyPatch) -> None:
    """The operator's SecureString, in the Region the workflow runs in (eu-west-1 here)."""
    boto3.client("ssm", region_name="eu-west-1").put_parameter(
        Name=NAME, Value=SECRET, Type="SecureString"
    )


def _assumed(calls: AwsCalls) -> list[dict[str, object]]:
    return calls.params("AssumeRole")


def test_assume_role_presents_the_external_id_read_from_ssm(
    stored: None, aws_calls: AwsCalls
) -> None:
    aws.session_for("222222222222", "eu-west-1")
    (call,) = _assumed(aws_calls)
    assert call["ExternalId"] == SECRET
    assert call["RoleArn"] == "arn:aws:iam::222222222222:role/v6migrate-target"
    # read with decryption, once, where the workflow runs: the next session, for a cluster in
    # another Region, is served from the provider's cache
    aws.session_for("333333333333", "eu-central-1")
    reads = aws_calls.params("GetParameter")
    assert reads == [{"Name": NAME, "WithDecryption": True}]
    assert _assumed(aws_calls)[1]["ExternalId"] == SECRET


def test_the_parameter_is_read_where_the_workflow_runs_whatever_the_clusters_region(
    stored: None, aws_calls: AwsCalls
) -> None:
    aws.session_for("222222222222", "ap-southeast-2")
    assert _assumed(aws_calls)[0]["ExternalId"] == SECRET


def test_a_missing_parameter_is_an_error_that_names_it_and_assumes_nothing(
    moto: None, settings: pytest.MonkeyPatch, aws_calls: AwsCalls
) -> None:
    with pytest.raises(InputError, match=NAME):
        aws.session_for("222222222222", "eu-west-1")
    assert _assumed(aws_calls) == []


def test_without_a_parameter_named_no_external_id_is_sent(
    moto: None, monkeypatch: pytest.MonkeyPatch, aws_calls: AwsCalls
) -> None:
    monkeypatch.delenv("V6MIGRATE_EXTERNAL_ID_PARAMETER", raising=False)
    aws.settings.cache_clear()
    aws.session_for("222222222222", "eu-west-1")
    (call,) = _assumed(aws_calls)
    assert "ExternalId" not in call


@pytest.mark.parametrize("deployed", [True, False])
def test_the_own_account_is_reached_through_the_target_role_only_when_deployed(
    moto: None, monkeypatch: pytest.MonkeyPatch, aws_calls: AwsCalls, deployed: bool
) -> None:
    monkeypatch.setenv("V6MIGRATE_ASSUME_IN_OWN_ACCOUNT", str(deployed).lower())
    aws.settings.cache_clear()
    own = boto3.client("sts", region_name="eu-west-1").get_caller_identity()["Account"]
    _, account = aws.session_for(own, "eu-west-1")
    assert account == own
    roles = [c["RoleArn"] for c in _assumed(aws_calls)]
    assert roles == ([f"arn:aws:iam::{own}:role/v6migrate-target"] if deployed else [])
    aws.settings.cache_clear()


def test_the_template_keeps_the_external_id_out_of_the_environment_and_its_parameters() -> None:
    template = load(ROOT / "template.yaml")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert "V6MIGRATE_EXTERNAL_ID" not in variables
    assert variables["V6MIGRATE_EXTERNAL_ID_PARAMETER"] == {"Ref": "ExternalIdParameterName"}
    assert variables["V6MIGRATE_ASSUME_IN_OWN_ACCOUNT"] == "true"
    assert "ExternalId" not in template["Parameters"]
    for resource in template["Resources"].values():
        environment = resource.get("Properties", {}).get("Environment", {})
        assert "V6MIGRATE_EXTERNAL_ID" not in environment.get("Variables", {})
