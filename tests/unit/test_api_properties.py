"""Every route of the REST API, driven from its published document (docs/openapi.json) by
hypothesis: bodies and path parameters drawn from the document's own schemas, and others that
break them. Whatever comes, the answer is one the document lists for that route, never a 5xx
but a busy AWS's 503; a 400 names a field; a success matches the documented schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
DOC = json.loads((ROOT / "docs" / "openapi.json").read_text())
COMPONENTS = DOC["components"]["schemas"]
OPERATIONS = [
    (path, method.upper(), operation)
    for path, methods in DOC["paths"].items()
    for method, operation in methods.items()
]
CALLER = "arn:aws:sts::123456789012:assumed-role/platform/alice"


def _inline(schema: Any) -> Any:
    """The schema with every `#/components/schemas/...` reference replaced by its target."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]])
        return {k: _inline(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v) for v in schema]
    return schema


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a JSON Schema (2020-12, the subset pydantic writes into the document) accepts:
    objects (required and optional properties), strings (pattern, length, enum), integers
    (bounds), numbers, booleans, null, arrays, anyOf."""
    if "anyOf" in schema:
        return st.one_of([from_schema(option) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v) for k, v in properties.items() if k in required},
            optional={k: from_schema(v) for k, v in properties.items() if k not in required},
        )
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda t: schema.get("minLength", 0) <= len(t) <= schema.get("maxLength", 10**6)
            )
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 30))
    if kind == "integer":
        return st.integers(
            min_value=int(schema["minimum"]) if "minimum" in schema else None,
            max_value=int(schema["maximum"]) if "maximum" in schema else None,
        )
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=3)
    return JSON


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                               max_size=3),
    max_leaves=8,
)  # fmt: skip


def _body(operation: dict[str, Any]) -> st.SearchStrategy[Any]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    garbage = st.binary(max_size=30).map(lambda raw: ("raw", raw))
    if content is None:  # a route that takes no JSON body (or a signed form) gets any
        return st.one_of(st.none(), JSON, garbage)
    return st.one_of(from_schema(_inline(content["schema"])), JSON, garbage)


def _segment(parameter: dict[str, Any]) -> st.SearchStrategy[str]:
    valid = from_schema(_inline(parameter["schema"]))
    other = st.text(min_size=1, max_size=40).filter(lambda t: "/" not in t and "?" not in t)
    return st.one_of(valid, other)


def _event(method: str, template: str, path: str, parameters: dict[str, str],
           body: Any) -> dict[str, Any]:  # fmt: skip
    if isinstance(body, tuple):
        text = body[1].decode("latin-1")
    else:
        text = None if body is None else json.dumps(body)
    return {
        "resource": template, "path": path, "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": parameters or None, "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc", "stage": "v1", "httpMethod": method,
            "path": f"/v1{path}", "resourcePath": template, "requestId": "r",
            "identity": {"userArn": CALLER, "caller": "AROA:alice", "sourceIp": "10.0.0.1",
                         "accountId": "123456789012", "accessKey": "ASIA"},
            # what the sign-in pool's authoriser passes on the Teams page's routes
            "authorizer": {"claims": {"identities": json.dumps(
                [{"userId": "4a1c2e8d-0b7f-4f3e-9c61-2f0d8e5b7a11", "providerName": "EntraID"}]
            )}},
        },
        "body": text, "isBase64Encoded": False,
    }  # fmt: skip


@pytest.fixture
def api(ledger: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import importlib.util

    from v6migrate import aws

    machine = boto3.client("stepfunctions", region_name="eu-west-1").create_state_machine(
        name="v6migrate-migration", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]  # fmt: skip
    wave = boto3.client("stepfunctions", region_name="eu-west-1").create_state_machine(
        name="v6migrate-wave", roleArn="arn:aws:iam::123456789012:role/sfn",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]  # fmt: skip
    boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="v6migrate/chat/slack", SecretString="signing"
    )
    monkeypatch.setenv("V6MIGRATE_SLACK_SIGNING_SECRET", "v6migrate/chat/slack")
    sign_in = {"client_id": "c", "sign_in": "", "provider": "EntraID",
               "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47"}  # fmt: skip
    boto3.client("ssm", region_name="eu-west-1").put_parameter(
        Name="/v6migrate/teams-sign-in", Value=json.dumps(sign_in), Type="String"
    )
    monkeypatch.setenv("V6MIGRATE_SIGN_IN_PARAMETER", "/v6migrate/teams-sign-in")
    monkeypatch.setenv("V6MIGRATE_LEDGER_TABLE", "ledger")
    monkeypatch.setenv("V6MIGRATE_STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("V6MIGRATE_WAVE_STATE_MACHINE_ARN", wave)
    boto3.client("scheduler", region_name="eu-west-1").create_schedule_group(Name="waves")
    monkeypatch.setenv("V6MIGRATE_WAVE_SCHEDULE_GROUP", "waves")
    monkeypatch.setenv("V6MIGRATE_WAVE_SCHEDULER_ROLE_ARN",
                       "arn:aws:iam::123456789012:role/scheduler")  # fmt: skip
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws.settings.cache_clear()
    spec = importlib.util.spec_from_file_location("fn_api_props", ROOT / "functions/api/app.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module.handler
    aws.settings.cache_clear()


@pytest.mark.parametrize(
    ("path", "method", "operation"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS]
)
@settings(
    max_examples=int(os.environ.get("V6MIGRATE_API_EXAMPLES", "40")),
    derandomize=bool(os.environ.get("CI")),  # the same examples on every CI run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_route_answers_only_what_its_document_lists(
    api: Any, lambda_context: Any, path: str, method: str, operation: dict[str, Any],
    data: st.DataObject,
) -> None:  # fmt: skip
    names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
    values = {
        p["name"]: data.draw(_segment(p), label=p["name"])
        for p in operation.get("parameters", []) if p["in"] == "path"
    }  # fmt: skip
    concrete = path
    for name in names:
        concrete = concrete.replace("{" + name + "}", values[name])
    body = data.draw(_body(operation), label="body")
    answer = api(_event(method, path, concrete, values, body), lambda_context)
    status = answer["statusCode"]
    event(f"{status}")
    assert str(status) in operation["responses"], (status, answer["body"])
    assert status < 500 or status == 503, answer["body"]
    payload = json.loads(answer["body"])
    if status == 400:
        assert payload["message"].startswith("invalid request: "), payload
        assert all(e["field"].split(".")[0] in ("body", "path") for e in payload["errors"])
    documented = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator(_inline(documented)).validate(payload)
