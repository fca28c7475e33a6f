"""The console form (template.yaml's StartMigrationRunbook, an SSM Automation runbook): its
typed fields accept what the request's model accepts, and its script builds a request that the
model validates (issue 11, item 4)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from local.template import load
from v6migrate.models import MigrationRequest

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = load(ROOT / "template.yaml")["Resources"]["StartMigrationRunbook"]["Properties"]
CONTENT: dict[str, Any] = RUNBOOK["Content"]
PARAMETERS: dict[str, Any] = CONTENT["parameters"]


def _build(**payload: Any) -> dict[str, Any]:
    """Run the runbook's script as Automation's aws:executeScript would."""
    step = CONTENT["mainSteps"][0]
    namespace: dict[str, Any] = {}
    exec(step["inputs"]["Script"], namespace)
    defaults = {"cluster": "orders-prod", "account_id": "222222222222", "region": "eu-west-1",
                "mode": "plan", "approvers": [], "required": 1, "options": "{}"}  # fmt: skip
    output = namespace[step["inputs"]["Handler"]]({**defaults, **payload}, None)
    return dict(json.loads(output["input"]))


def _model_accepts(field: str, value: str) -> bool:
    base = {"cluster": "orders-prod", "account_id": "222222222222", "region": "eu-west-1"}
    try:
        MigrationRequest.model_validate({**base, field: value})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("parameter", "field", "samples"),
    [
        ("Cluster", "cluster", ["orders-prod", "a", "A_1-b", "-x", "", "x" * 101, "a b", "a.b"]),
        ("AccountId", "account_id", ["222222222222", "22222222222", "2222222222222", "abc"]),
        ("Region", "region", ["eu-west-1", "us-gov-west-1", "ap-southeast-10", "eu_west_1",
                              "EU-WEST-1", "eu-west"]),
    ],
)  # fmt: skip
def test_each_field_accepts_exactly_what_the_request_model_accepts(
    parameter: str, field: str, samples: list[str]
) -> None:
    pattern = PARAMETERS[parameter]["allowedPattern"]
    for value in samples:
        assert bool(re.fullmatch(pattern, value)) is _model_accepts(field, value), value


def test_the_mode_and_approvals_are_choices_the_model_allows() -> None:
    mode = MigrationRequest.model_fields["mode"].annotation
    assert PARAMETERS["Mode"]["allowedValues"] == list(get_args(mode))
    assert PARAMETERS["Mode"]["default"] == "plan"
    assert PARAMETERS["ApprovalsRequired"]["allowedValues"] == [1, 2, 3]


def test_the_script_builds_a_request_the_model_validates() -> None:
    approver = "arn:aws:iam::111111111111:role/platform-approvers"
    request = MigrationRequest.model_validate(_build(
        mode="apply", approvers=[approver], required=2, options='{"node_concurrency": 2}',
    ))  # fmt: skip
    assert (request.mode, request.approval.approvers, request.approval.required) == (
        "apply", (approver,), 2,
    )  # fmt: skip
    assert request.options.node_concurrency == 2
    # A dry run from the defaults is a valid request too
    assert MigrationRequest.model_validate(_build()).mode == "plan"


def test_options_that_are_not_a_json_object_stop_the_form() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        _build(options="[1, 2]")
    with pytest.raises(json.JSONDecodeError):
        _build(options="{not json")


def test_the_form_starts_the_migration_state_machine_with_the_built_request() -> None:
    start = CONTENT["mainSteps"][1]
    assert start["action"] == "aws:executeStateMachine"
    assert start["inputs"]["stateMachineArn"] == {"Ref": "MigrationStateMachine"}
    built = CONTENT["mainSteps"][0]
    assert start["inputs"]["input"] == f"{{{{ {built['name']}.Input }}}}"
