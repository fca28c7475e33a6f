"""An instance refresh on a later page of DescribeInstanceRefreshes still counts.

Auto Scaling API reference, DescribeInstanceRefreshes: MaxRecords (default 50) and NextToken;
the order of the refreshes is not documented, so a live one may come on any page."""

from __future__ import annotations

from typing import Any, cast

import boto3
from botocore.stub import Stubber

from v6migrate.changes.cluster import NodeRoll
from v6migrate.context import Context
from v6migrate.models import RollNodegroup


def _refresh(refresh_id: str, status: str) -> dict[str, Any]:
    return {"InstanceRefreshId": refresh_id, "AutoScalingGroupName": "workers", "Status": status}


def test_a_live_refresh_on_a_second_page_is_still_rolling(fake_aws_env: None) -> None:
    # Given a group whose first page of refreshes holds only ended ones, and a second page
    # holds the one that still runs
    client = boto3.client("autoscaling", region_name="eu-west-1")
    stub = Stubber(client)
    stub.add_response(
        "describe_instance_refreshes",
        {"InstanceRefreshes": [_refresh("old-1", "Successful")], "NextToken": "page-2"},
        {"AutoScalingGroupName": "workers"},
    )
    stub.add_response(
        "describe_instance_refreshes",
        {"InstanceRefreshes": [_refresh("now", "InProgress")]},
        {"AutoScalingGroupName": "workers", "NextToken": "page-2"},
    )
    clients = type("Clients", (), {"autoscaling": client})()
    ctx = Context(clients=cast(Any, clients), inventory=cast(Any, None), migration_id="m")
    change = RollNodegroup(
        target="workers", strategy="instance-refresh", autoscaling_group="workers"
    )
    # When the nodes stage asks whether AWS still rolls the group, Then it is, by that refresh
    with stub:
        still = NodeRoll().rolling(change, ctx)
    assert still is not None
    assert "now" in still
