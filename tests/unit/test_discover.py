"""Discovery against moto: the estate read back, with filtered and paginated reads only."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from v6migrate.aws import Clients, session_for
from v6migrate.discover import discover, pages
from v6migrate.errors import ClusterNotFound


def test_discovers_the_small_estate_in_the_target_account(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Given the small estate seeded in account 222222222222
    # When it is discovered through the assumed target role
    inventory = discover(target, small_estate["cluster"])
    # Then every part of the estate is there
    assert inventory.account_id == "222222222222"
    assert inventory.cluster.ip_family == "ipv4"
    assert inventory.vpc.vpc_id == small_estate["vpc_id"]
    assert inventory.vpc.ipv6_block is None
    assert len(inventory.subnets) == 6
    assert {g.role for g in inventory.security_groups} == {"cluster", "node", "other"}
    assert sum(not a.is_default for a in inventory.network_acls) == 1
    assert [a.attachment_id for a in inventory.tgw_attachments] == [
        small_estate["transit_gateway_attachment"]
    ]
    [peering] = inventory.peerings
    assert peering.peer_ipv6_cidrs  # the shared-services VPC is dual-stack
    assert peering.peer_owner_id == "333333333333"  # read through the target role there
    assert [t.route_table_id for t in peering.peer_route_tables] == [
        small_estate["peer_route_table"]
    ]
    assert inventory.cloudwan_attachments[0].ipv6_support is False
    kinds = {g.name: (g.kind, g.launch_template_id is not None) for g in inventory.nodegroups}
    assert kinds == {
        "system": ("managed", True),
        "batch": ("managed", False),
        "orders-prod-legacy-asg": ("self-managed", True),
    }
    assert len(inventory.nodes) == 4
    assert all(not n.ipv6_addresses for n in inventory.nodes)
    assert inventory.cni.managed
    assert inventory.cni.version == "v1.18.3-eksbuild.1"
    assert inventory.internet_gateway_id
    assert inventory.egress_only_gateway_id is None


def test_every_ec2_list_read_is_filtered_by_the_vpc(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Given a hook that records the parameters of every EC2 call
    calls: list[tuple[str, dict[str, Any]]] = []
    target.ec2.meta.events.register(
        "provide-client-params.ec2.*",
        lambda params, model, **_: calls.append((model.name, params)),
    )
    # When the estate is discovered
    discover(target, small_estate["cluster"])
    # Then every Describe names the VPC (by id or filter), except the gateway list EC2 cannot filter
    unfiltered = {
        name
        for name, params in calls
        if "VpcIds" not in params
        and not any(small_estate["vpc_id"] in f["Values"] for f in params.get("Filters", []))
    }
    # (DescribeEgressOnlyInternetGateways and DescribeVpcEndpointServiceConfigurations accept
    # no VPC filter: their pages are matched here; ELB's API is another client)
    assert unfiltered == {
        "DescribeEgressOnlyInternetGateways",
        "DescribeVpcEndpointServiceConfigurations",
    }


def test_reads_follow_next_tokens_across_pages() -> None:
    # moto never paginates (DOMAIN.md), so the pages come from botocore's Stubber
    ec2 = boto3.client("ec2", region_name="eu-west-1", aws_access_key_id="x",
                       aws_secret_access_key="x")  # fmt: skip
    stubber = Stubber(ec2)
    filters = [{"Name": "vpc-id", "Values": ["vpc-1"]}]
    stubber.add_response(
        "describe_subnets", {"Subnets": [{"SubnetId": "subnet-1"}], "NextToken": "t1"},
        {"Filters": filters},
    )  # fmt: skip
    stubber.add_response(
        "describe_subnets", {"Subnets": [{"SubnetId": "subnet-2"}]},
        {"Filters": filters, "NextToken": "t1"},
    )  # fmt: skip
    with stubber:
        found = [s["SubnetId"] for s in pages(ec2, "describe_subnets", "Subnets", Filters=filters)]
    assert found == ["subnet-1", "subnet-2"]
    stubber.assert_no_pending_responses()


def test_unknown_cluster_is_a_clear_error(small_estate: dict[str, Any], target: Clients) -> None:
    with pytest.raises(
        ClusterNotFound, match="no EKS cluster named 'nope' in account 222222222222"
    ):
        discover(target, "nope")


def test_own_account_needs_no_role(moto: None) -> None:
    _, account = session_for(None, "eu-west-1")
    assert account == "123456789012"
    _, same = session_for("123456789012", "eu-west-1")
    assert same == "123456789012"


def test_other_account_is_reached_by_assuming_the_target_role(moto: None) -> None:
    session, account = session_for("222222222222", "eu-west-1")
    assert account == "222222222222"
    identity = session.client("sts").get_caller_identity()
    assert identity["Account"] == "222222222222"
    assert ":assumed-role/v6migrate-target/" in identity["Arn"]


def _policy_actions(path: str, logical: str, sid: str) -> set[str]:
    from pathlib import Path

    from local.template import load

    template = load(Path(__file__).resolve().parents[2] / path)
    properties = template["Resources"][logical]["Properties"]
    documents = properties.get("Policies", [properties.get("PolicyDocument", {})])
    statements = [
        s
        for d in documents
        for s in (d.get("PolicyDocument", d) if isinstance(d, dict) else {}).get("Statement", [])
        if s.get("Sid") == sid
    ]
    return {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }


def test_discovery_calls_only_what_the_policies_grant(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Given a hook recording every operation discovery calls, as IAM actions
    called: set[str] = set()
    for client in (target.ec2, target.eks, target.autoscaling, target.networkmanager, target.elbv2):
        client.meta.events.register(
            "before-call",
            lambda model, **_: called.add(f"{model.service_model.endpoint_prefix}:{model.name}"),
        )
    # When the estate is discovered
    discover(target, small_estate["cluster"])
    # Then the target role grants each of them, and no more (the functions read the estate,
    # the tooling account's included, only through it)
    # (its reads are ReadPolicy's, which the stages' role and the read-only role both have)
    role = _policy_actions("target-account-role.yaml", "ReadPolicy", "ReadTheEstate")
    assert called == role


def _second_cluster_in_the_same_vpc(target: Clients, small_estate: dict[str, Any]) -> str:
    """Another team's cluster in the same VPC, with a managed node group of its own."""
    subnets = list(discover(target, small_estate["cluster"]).cluster.subnet_ids)
    target.eks.create_cluster(
        name="payments", version="1.31", roleArn="arn:aws:iam::222222222222:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": subnets[:2]},
    )  # fmt: skip
    target.eks.create_nodegroup(
        clusterName="payments", nodegroupName="system", subnets=subnets[:2],
        nodeRole="arn:aws:iam::222222222222:role/eks-node",
        scalingConfig={"minSize": 0, "maxSize": 2, "desiredSize": 2},
    )  # fmt: skip
    return "payments"


def test_another_clusters_nodes_in_the_same_vpc_are_not_counted(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Given a second cluster whose managed nodes share the VPC: EKS tags them with their own
    # eks:cluster-name (EKS user guide, managed node groups: resource tags)
    before = {n.instance_id for n in discover(target, small_estate["cluster"]).nodes}
    _second_cluster_in_the_same_vpc(target, small_estate)
    # When the first cluster is discovered
    inventory = discover(target, small_estate["cluster"])
    # Then its nodes are exactly what they were
    assert {n.instance_id for n in inventory.nodes} == before
    assert all(n.nodegroup for n in inventory.nodes)


def test_a_karpenter_node_is_the_clusters_node_outside_any_group(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Given a node Karpenter launched: tagged for the cluster, in no node group
    # (Karpenter v1: kubernetes.io/cluster/<name>=owned, eks:eks-cluster-name, karpenter.sh/*)
    subnet = discover(target, small_estate["cluster"]).cluster.subnet_ids[0]
    node = target.ec2.run_instances(
        ImageId="ami-0eks0node0image0sim", InstanceType="m6g.large", MinCount=1, MaxCount=1,
        SubnetId=subnet, TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": f"kubernetes.io/cluster/{small_estate['cluster']}", "Value": "owned"},
            {"Key": "eks:eks-cluster-name", "Value": small_estate["cluster"]},
            {"Key": "karpenter.sh/nodepool", "Value": "default"}]}],
    )["Instances"][0]  # fmt: skip
    # When discovered, it is listed with no node group
    inventory = discover(target, small_estate["cluster"])
    found = {n.instance_id: n.nodegroup for n in inventory.nodes}
    assert found[node["InstanceId"]] is None
