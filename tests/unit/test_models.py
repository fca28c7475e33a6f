"""Requests are validated at the edge: every bad input is refused with its field named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from v6migrate.models import MigrationRequest


def test_minimal_request_defaults_to_a_dry_run() -> None:
    request = MigrationRequest(cluster="orders", region="eu-west-1")
    assert request.mode == "plan"
    assert request.account_id is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"account_id": "12345"}, "account_id"),
        ({"account_id": "12345678901a"}, "account_id"),
        ({"region": "Europe"}, "region"),
        ({"cluster": "-starts-with-dash"}, "cluster"),
        ({"cluster": "x" * 101}, "cluster"),
        ({"mode": "yolo"}, "mode"),
        ({"surprise": True}, "surprise"),
        ({"options": {"ipv6_source": {"ipam_pool_id": "ipam-pool-0ab"}}}, "options"),
        (
            {"options": {"ipv6_source": {"ipam_pool_id": "ipam-pool-0ab", "netmask_length": 50}}},
            "options",
        ),
        ({"options": {"tgw_ipv6_destinations": ["10.0.0.0/8"]}}, "options"),
    ],
)
def test_bad_requests_are_refused(changes: dict[str, Any], field: str) -> None:
    payload = {"cluster": "orders", "region": "eu-west-1", **changes}
    with pytest.raises(ValidationError) as error:
        MigrationRequest.model_validate(payload)
    assert error.value.errors()[0]["loc"][0] == field


def test_requests_are_immutable() -> None:
    request = MigrationRequest(cluster="orders", region="eu-west-1")
    with pytest.raises(ValidationError):
        request.cluster = "other"  # type: ignore[misc]
