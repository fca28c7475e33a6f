"""Unit tests never touch the network (pytest-socket); AWS is moto in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aws_xray_sdk.core  # noqa: F401  (its UDP emitter is made at import: before the block)
import pytest
from pytest_socket import disable_socket, enable_socket


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


@pytest.fixture
def moto(fake_aws_env: None) -> Iterator[None]:
    from moto import mock_aws

    from local import gaps

    gaps.install()
    with mock_aws():
        yield


@pytest.fixture
def small_estate(moto: None) -> dict[str, Any]:
    from local.seed import ESTATES, seed

    return seed(ESTATES["small"])


@pytest.fixture
def target(small_estate: dict[str, Any]) -> Any:
    """Clients in the small estate's account, reached by assuming the target role."""
    from v6migrate.aws import target_clients

    return target_clients(small_estate["account_id"], small_estate["region"])


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
