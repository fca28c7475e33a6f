"""Unit tests never touch the network (pytest-socket); AWS is moto in-process."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_xray_sdk.core  # noqa: F401  (its UDP emitter is made at import: before the block)
import boto3
import pytest
from pytest_socket import disable_socket, enable_socket

from local.seed import ESTATES
from v6migrate import preflight
from v6migrate.aws import Clients
from v6migrate.journal import Ledger
from v6migrate.models import MigrationRequest

SMALL = ESTATES["small"]
ROOT = Path(__file__).resolve().parents[2]

# Under coverage, moto's own code (most of what a unit test runs) goes untraced: the measure
# of the project's code is the same, in half the time
from local import runtime  # noqa: E402

runtime.untraced_in_process()


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@pytest.fixture(autouse=True)
def _instant_transitions() -> Iterator[None]:
    """Simulated `associating`/`modifying` states last no time unless a test asks for them."""
    from local.gaps.timing import SETTLE

    saved = SETTLE.seconds
    SETTLE.seconds = 0.0
    yield
    SETTLE.seconds = saved


@pytest.fixture(autouse=True)
def _as_a_function_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The layer's code runs here as in a function: with the Powertools variables every function
    gets from template.yaml's Globals (literal values; the log level is a parameter, left out),
    and instruments made afresh from them, as in a new execution environment."""
    variables = _powertools_globals()
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    _new_environment(variables["POWERTOOLS_SERVICE_NAME"])
    yield
    _new_environment(variables["POWERTOOLS_SERVICE_NAME"])


@functools.cache
def _powertools_globals() -> dict[str, str]:
    """template.yaml's Powertools variables of every function (read once: a third of a
    second a test otherwise)."""
    from local.template import load

    variables = load(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    return {
        k: v for k, v in variables.items() if k.startswith("POWERTOOLS_") and isinstance(v, str)
    }


def _new_environment(service: str) -> None:
    """Nothing of an earlier test's instruments: not the cached ones, nor the handler
    Powertools left on the service's logger (its stream may be a closed capture)."""
    from v6migrate import observability

    observability.instruments.cache_clear()
    named = logging.getLogger(service)
    for handler in list(named.handlers):
        named.removeHandler(handler)
    for mark in ("init", "powertools_handler"):  # Powertools' "already configured" marks
        named.__dict__.pop(mark, None)


@pytest.fixture(autouse=True)
def _a_sandboxs_approval_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform's approval policy is a sandbox's (the request chooses, as the embedded
    stack's default): the unit tests of planning and applying are not about it. Its own tests
    (test_policy.py) read it from SSM or call `effective` with theirs."""
    from local.deploy import SANDBOX_APPROVAL_POLICY
    from v6migrate import policy

    sandbox = policy.PlatformPolicy.model_validate(SANDBOX_APPROVAL_POLICY)
    monkeypatch.setattr(policy, "platform_policy", lambda ssm=None: sandbox)


@pytest.fixture
def moto(fake_aws_env: None) -> Iterator[None]:
    from moto import mock_aws

    from local import gaps

    gaps.install()
    with mock_aws():
        yield


class Crash(Exception):
    """The Lambda died right after AWS accepted a call, before anything else was written."""


class AwsCalls:
    """Every AWS call any client makes in this process, in every account and service (one hook
    on botocore's client, so clients made later, e.g. for a peer account, are seen too), and a
    crash to raise right after a chosen call was carried out."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []
        self.retries: list[tuple[str, dict[str, Any]]] = []  # (service, the client's retries)
        self.crash_when: Any = None  # (service, operation, n-th mutation) -> bool

    def mutations(self) -> list[str]:
        from local.faults import ALL_SERVICES, MUTATING

        return [f"{s}:{o}" for s, o, _ in self.seen if s in ALL_SERVICES and o.startswith(MUTATING)]

    def params(self, operation: str) -> list[dict[str, Any]]:
        """What each call of `operation` was asked, in order."""
        return [p for _, o, p in self.seen if o == operation]


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> AwsCalls:
    from botocore.client import BaseClient

    calls = AwsCalls()
    original = BaseClient._make_api_call

    def make_api_call(self: Any, operation: str, params: Any) -> Any:
        answer = original(self, operation, params)
        service = self.meta.service_model.endpoint_prefix
        if service == "elasticloadbalancing":
            service = "elbv2"
        calls.seen.append((service, operation, dict(params)))
        calls.retries.append((service, dict(self.meta.config.retries or {})))
        mutations = len(calls.mutations())
        if calls.crash_when is not None and calls.crash_when(service, operation, mutations):
            calls.crash_when = None
            raise Crash(f"{service}:{operation}")
        return answer

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    return calls


@pytest.fixture
def small_estate(moto: None) -> dict[str, Any]:
    from local.seed import ESTATES, seed

    return seed(ESTATES["small"])


@pytest.fixture
def target(small_estate: dict[str, Any]) -> Any:
    """Clients in the small estate's account, reached by assuming the target role."""
    from v6migrate.aws import target_clients

    return target_clients(small_estate["account_id"], small_estate["region"])


@pytest.fixture
def ledger(moto: None) -> Ledger:
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    dynamodb.create_table(
        TableName="ledger",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return Ledger(dynamodb, "ledger")


@pytest.fixture
def request_() -> MigrationRequest:
    return MigrationRequest(
        cluster=ESTATES["small"].cluster,
        account_id=ESTATES["small"].account_id,
        region=ESTATES["small"].region,
        mode="apply",
        approval={"mode": "none"},
    )


@pytest.fixture
def planned(
    small_estate: dict[str, Any], target: Clients, ledger: Ledger, request_: MigrationRequest
) -> str:
    """The small estate with migration m-1's plan approved and its lock taken."""
    preflight.run(preflight.PreflightInput(request=request_, migration_id="m-1"), target, ledger)
    return "m-1"


@pytest.fixture(autouse=True)
def sim_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The simulated Kubernetes API, reached in-process (unit tests have no sockets): the
    client's opener hands each request to the simulation's handler. Every EKS cluster has an
    API server, so every unit test has it (preflight of an apply run reads it)."""
    import io
    import json
    import urllib.error
    import urllib.parse

    from local.cluster import SIM, UNREACHABLE, identify_in_process
    from v6migrate import kube

    class Answer:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def read(self) -> bytes:
            return self.body

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    def opener(request: Any, context: Any = None, timeout: float = 0) -> Answer:
        path = urllib.parse.urlparse(request.full_url).path
        code, payload, _ = SIM.handle(
            request.get_method(), path, dict(request.header_items()), request.data or b""
        )
        if code == UNREACHABLE:
            raise urllib.error.URLError(TimeoutError("timed out"))
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if code >= 400:
            raise urllib.error.HTTPError(request.full_url, code, "", {}, io.BytesIO(body))  # type: ignore[arg-type]
        return Answer(body)

    monkeypatch.setattr(kube, "OPENER", opener)
    monkeypatch.setattr(SIM, "identify", identify_in_process)
    SIM.url = "https://kubernetes.sim"
    yield SIM
    SIM.url = ""
    SIM.states.clear()


class FakeLambdaContext:
    function_name = "v6migrate-PreflightFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:v6migrate-Preflight"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/v6migrate-PreflightFunction"
    log_stream_name = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def refusal(call: Any, **kwargs: Any) -> tuple[str, int]:
    """The error code and HTTP status AWS (here, the embedded AWS) refuses `call(**kwargs)` with."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    answer = raised.value.response
    return answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]
