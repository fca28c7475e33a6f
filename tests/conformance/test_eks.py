"""EKS as its API reference describes it, on a cluster: add-on and node group states, one
update at a time, the versions on offer, ListUpdates."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conformance.conftest import Target, error_of


def test_list_updates_of_an_unknown_cluster_is_not_found(aws: Target) -> None:
    # EKS API reference, ListUpdates errors: ResourceNotFoundException (404).
    with pytest.raises(ClientError) as refused:
        aws.client("eks").list_updates(name="no-such-cluster-v6migrate")
    assert error_of(refused) == ("ResourceNotFoundException", 404)


def test_an_unknown_path_answers_in_the_services_json_shape(aws: Target) -> None:
    # AWS answers a path no operation has with a JSON error (UnknownOperationException),
    # never an HTML page. Sent signed, as any SDK sends, to a path EKS has no operation for.
    import json
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    eks = aws.client("eks")
    url = eks.meta.endpoint_url.rstrip("/") + "/no-such-operation-v6migrate"
    request = AWSRequest(method="GET", url=url)
    credentials = aws.session.get_credentials()
    assert credentials is not None
    SigV4Auth(credentials.get_frozen_credentials(), "eks", eks.meta.region_name).add_auth(request)
    prepared = urllib.request.Request(url, headers=dict(request.headers), method="GET")
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(prepared, timeout=30)
    assert 400 <= answered.value.code < 500
    body = json.loads(answered.value.read() or b"{}")
    assert isinstance(body, dict)


def test_an_add_on_update_to_a_version_not_on_offer_is_refused(aws: Target, cluster: str) -> None:
    # EKS API reference, UpdateAddon errors: InvalidParameterException; the versions on offer
    # are DescribeAddonVersions'.
    eks = aws.client("eks")
    with pytest.raises(ClientError) as refused:
        eks.update_addon(clusterName=cluster, addonName="vpc-cni", addonVersion="v0.0.1-eksbuild.1")
    assert error_of(refused) == ("InvalidParameterException", 400)


def test_a_second_update_while_one_runs_is_resource_in_use(aws: Target, cluster: str) -> None:
    # EKS API reference, UpdateAddon errors: ResourceInUseException (409) while an update of
    # the add-on runs; ListUpdates lists it, DescribeUpdate shows it InProgress.
    eks = aws.client("eks")
    addon = eks.describe_addon(clusterName=cluster, addonName="vpc-cni")["addon"]
    aws.until(
        lambda: (
            eks.describe_addon(clusterName=cluster, addonName="vpc-cni")["addon"]["status"]
            == "ACTIVE"
        ),
        "vpc-cni ACTIVE",
    )
    first = eks.update_addon(
        clusterName=cluster, addonName="vpc-cni", addonVersion=addon["addonVersion"],
        resolveConflicts="PRESERVE",
    )["update"]  # fmt: skip
    assert first["status"] == "InProgress"
    assert eks.describe_addon(clusterName=cluster, addonName="vpc-cni")["addon"]["status"] == (
        "UPDATING"
    )
    with pytest.raises(ClientError) as refused:
        eks.update_addon(
            clusterName=cluster, addonName="vpc-cni", addonVersion=addon["addonVersion"],
            resolveConflicts="PRESERVE",
        )  # fmt: skip
    assert error_of(refused) == ("ResourceInUseException", 409)
    listed = eks.list_updates(name=cluster, addonName="vpc-cni")["updateIds"]
    assert first["id"] in listed
    aws.until(
        lambda: (
            eks.describe_update(name=cluster, updateId=first["id"], addonName="vpc-cni")["update"][
                "status"
            ]
            != "InProgress"
        ),
        "the add-on update ended",
    )


def test_a_new_add_on_is_creating_before_it_is_active(aws: Target, cluster: str) -> None:
    # EKS API reference, Addon.status: CREATING, then ACTIVE; CreateAddon a second time:
    # ResourceInUseException (409).
    eks = aws.client("eks")
    name = "kube-proxy"
    existing = eks.list_addons(clusterName=cluster)["addons"]
    if name in existing:
        pytest.skip(f"{cluster} has {name} already")
    created = eks.create_addon(clusterName=cluster, addonName=name)["addon"]
    aws.later(lambda: eks.delete_addon(clusterName=cluster, addonName=name))
    assert created["status"] == "CREATING"
    with pytest.raises(ClientError) as refused:
        eks.create_addon(clusterName=cluster, addonName=name)
    assert error_of(refused) == ("ResourceInUseException", 409)
    aws.until(
        lambda: (
            eks.describe_addon(clusterName=cluster, addonName=name)["addon"]["status"] == "ACTIVE"
        ),
        f"{name} ACTIVE",
    )


def test_a_new_node_group_is_creating_until_its_nodes_have_joined(
    aws: Target, cluster: str, billed: None
) -> None:
    # EKS API reference, Nodegroup.status: CREATING, then ACTIVE.
    eks = aws.client("eks")
    described = eks.describe_cluster(name=cluster)["cluster"]
    existing = eks.list_nodegroups(clusterName=cluster)["nodegroups"]
    role = eks.describe_nodegroup(clusterName=cluster, nodegroupName=existing[0])["nodegroup"][
        "nodeRole"
    ]
    created: dict[str, Any] = eks.create_nodegroup(
        clusterName=cluster, nodegroupName="conformance-creating",
        subnets=described["resourcesVpcConfig"]["subnetIds"][:1], nodeRole=role,
        scalingConfig={"minSize": 1, "maxSize": 1, "desiredSize": 1},
    )["nodegroup"]  # fmt: skip
    aws.later(
        lambda: eks.delete_nodegroup(clusterName=cluster, nodegroupName="conformance-creating")
    )
    assert created["status"] == "CREATING"
    aws.until(
        lambda: (
            eks.describe_nodegroup(clusterName=cluster, nodegroupName="conformance-creating")[
                "nodegroup"
            ]["status"]
            == "ACTIVE"
        ),
        "the node group ACTIVE",
        timeout=1200,
    )
