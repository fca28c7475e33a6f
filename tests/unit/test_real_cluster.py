"""The embedded AWS answers as AWS and Kubernetes document it, where the workflow once assumed
otherwise (issue 8). Each test names the reference it follows; the workflow's side of each
behaviour is tested beside the code that depends on it."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.seed import ESTATES
from v6migrate import kube
from v6migrate.aws import Clients
from v6migrate.changes import Context
from v6migrate.discover import discover

SMALL = ESTATES["small"]


def test_nodes_report_addresses_as_kubelet_does_and_turn_ready_some_time_after_launch(
    small_estate: dict[str, Any], target: Clients, sim_cluster: Any
) -> None:
    # Reference: Kubernetes API, NodeStatus.addresses (InternalIP, ExternalIP, Hostname,
    # InternalDNS, ExternalDNS); cloud-provider-aws NodeAddresses: IPv4 node IPs only unless the
    # node IP families include ipv6, which they do not on an IPv4 cluster.
    # Given a node whose primary ENI has a global IPv6 address
    subnet = _dual_stack_subnets(target)[0]
    target.ec2.associate_subnet_cidr_block(SubnetId=subnet[0], Ipv6CidrBlock=subnet[1])
    instance = target.ec2.run_instances(
        ImageId="ami-0eks0node0image0sim", InstanceType="m6g.large", MinCount=1, MaxCount=1,
        SubnetId=subnet[0], Ipv6AddressCount=1, TagSpecifications=[{"ResourceType": "instance",
        "Tags": [{"Key": f"kubernetes.io/cluster/{SMALL.cluster}", "Value": "owned"}]}],
    )["Instances"][0]  # fmt: skip
    assert instance["NetworkInterfaces"][0]["Ipv6Addresses"]
    ctx = Context(clients=target, inventory=discover(target, SMALL.cluster), migration_id="m-1")
    # When the cluster's nodes are read through the Kubernetes API
    with kube.access(ctx, ("default",)):
        nodes = kube.connect(ctx).nodes()
    # Then the node lists kubelet's address types, and no IPv6 address at all
    node = next(n for n in nodes if n["spec"]["providerID"].endswith(instance["InstanceId"]))
    types = [a["type"] for a in node["status"]["addresses"]]
    assert {"InternalIP", "InternalDNS", "Hostname"} <= set(types)
    internal = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
    assert all(ipaddress.ip_address(a).version == 4 for a in internal)
    assert node["spec"]["providerID"] == (
        f"aws:///{instance['Placement']['AvailabilityZone']}/{instance['InstanceId']}"
    )
    # Reference: NodeStatus.conditions: a node that just launched has not turned Ready yet;
    # the estate's older nodes are
    from local.gaps.timing import CLOCK, NODE_READY_SECONDS

    def ready(found: dict[str, Any]) -> str:
        return next(c["status"] for c in found["status"]["conditions"] if c["type"] == "Ready")

    assert ready(node) == "False"
    assert {ready(n) for n in nodes if n is not node} == {"True"}
    CLOCK.skip(NODE_READY_SECONDS)
    with kube.access(ctx, ("default",)):
        later = kube.connect(ctx).nodes()
    assert {ready(n) for n in later} == {"True"}


def _dual_stack_subnets(target: Clients) -> list[tuple[str, str]]:
    """Give the small estate's VPC an IPv6 block; each subnet with the /64 it may take."""
    vpc = discover(target, SMALL.cluster).vpc.vpc_id
    target.ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)
    block = target.ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]
    network = ipaddress.ip_network(block["Ipv6CidrBlock"])
    subnets = target.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    carved = network.subnets(new_prefix=64)
    return [(s["SubnetId"], str(next(carved))) for s in subnets["Subnets"]]


def _service_interfaces(target: Clients, vpc_id: str) -> list[dict[str, Any]]:
    return list(
        target.ec2.describe_network_interfaces(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "requester-managed", "Values": ["true"]},
            ]
        )["NetworkInterfaces"]
    )


def test_services_own_their_interfaces_and_refuse_address_changes(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Reference: Amazon EC2 user guide, "Requester-managed network interfaces": NAT gateways,
    # interface endpoints, load balancers and TGW attachments create interfaces on your behalf;
    # you cannot assign or unassign their addresses.
    vpc = discover(target, SMALL.cluster).vpc.vpc_id
    kinds = {eni["InterfaceType"] for eni in _service_interfaces(target, vpc)}
    assert {"nat_gateway", "vpc_endpoint", "transit_gateway"} <= kinds
    assert kinds & {"interface", "network_load_balancer"}, "the load balancers' interfaces"
    # Given a load balancer made dualstack once its subnets have a /64
    for subnet, block in _dual_stack_subnets(target):
        target.ec2.associate_subnet_cidr_block(SubnetId=subnet, Ipv6CidrBlock=block)
    alb = next(
        b for b in target.elbv2.describe_load_balancers()["LoadBalancers"]
        if b["Type"] == "application"
    )  # fmt: skip
    target.elbv2.set_ip_address_type(
        LoadBalancerArn=alb["LoadBalancerArn"], IpAddressType="dualstack"
    )
    name = alb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    held = [
        eni for eni in _service_interfaces(target, vpc)
        if eni["Description"] == f"ELB {name}" and eni["Ipv6Addresses"]
    ]  # fmt: skip
    assert held, "a dualstack load balancer's interfaces hold IPv6 addresses"
    # When anyone else tries to take an address away, EC2 refuses
    eni = held[0]
    with pytest.raises(ClientError) as refused:
        target.ec2.unassign_ipv6_addresses(
            NetworkInterfaceId=eni["NetworkInterfaceId"],
            Ipv6Addresses=[eni["Ipv6Addresses"][0]["Ipv6Address"]],
        )
    assert refused.value.response["Error"]["Code"] == "OperationNotPermitted"
    # And the service gives them back itself when it returns to ipv4
    target.elbv2.set_ip_address_type(LoadBalancerArn=alb["LoadBalancerArn"], IpAddressType="ipv4")
    assert not any(
        e["Ipv6Addresses"]
        for e in _service_interfaces(target, vpc)
        if e["Description"] == f"ELB {name}"
    )


def test_a_tgw_attachments_interfaces_hold_ipv6_exactly_while_its_ipv6_support_is_on(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Reference: EC2 API reference, CreateTransitGatewayVpcAttachmentRequestOptions and
    # ModifyTransitGatewayVpcAttachmentRequestOptions, Ipv6Support: "When enabled, the transit
    # gateway network interface receives an IPv6 address ... When disabled, the network
    # interface does not receive an IPv6 address."
    vpc = discover(target, SMALL.cluster).vpc.vpc_id
    for subnet, block in _dual_stack_subnets(target):
        target.ec2.associate_subnet_cidr_block(SubnetId=subnet, Ipv6CidrBlock=block)
    attachment = small_estate["transit_gateway_attachment"]

    def addresses() -> list[list[dict[str, Any]]]:
        return [e["Ipv6Addresses"] for e in _service_interfaces(target, vpc)
                if e["InterfaceType"] == "transit_gateway"]  # fmt: skip

    assert addresses()
    assert not any(addresses())
    target.ec2.modify_transit_gateway_vpc_attachment(
        TransitGatewayAttachmentId=attachment, Options={"Ipv6Support": "enable"}
    )
    assert all(len(held) == 1 for held in addresses())
    # while one holds an address from its subnet's /64, the /64 cannot be released
    tgw_subnets = {e["SubnetId"] for e in _service_interfaces(target, vpc)
                   if e["InterfaceType"] == "transit_gateway"}  # fmt: skip
    subnet = target.ec2.describe_subnets(SubnetIds=[sorted(tgw_subnets)[0]])["Subnets"][0]
    association = subnet["Ipv6CidrBlockAssociationSet"][0]["AssociationId"]
    with pytest.raises(ClientError) as refused:
        target.ec2.disassociate_subnet_cidr_block(AssociationId=association)
    assert refused.value.response["Error"]["Code"] == "InvalidCidrBlock.InUse"
    target.ec2.modify_transit_gateway_vpc_attachment(
        TransitGatewayAttachmentId=attachment, Options={"Ipv6Support": "disable"}
    )
    assert not any(addresses())


def _custom_acl(target: Clients) -> str:
    vpc = discover(target, SMALL.cluster).vpc.vpc_id
    acls = target.ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    return str(next(a for a in acls["NetworkAcls"] if not a["IsDefault"])["NetworkAclId"])


@pytest.mark.parametrize(("protocol", "cidr"), [("1", "CidrBlock"), ("58", "Ipv6CidrBlock")])
def test_an_icmp_nacl_entry_without_its_type_and_code_is_refused(
    small_estate: dict[str, Any], target: Clients, protocol: str, cidr: str
) -> None:
    # Reference: EC2 API reference, CreateNetworkAclEntry: IcmpTypeCode is required for protocol
    # 1, and for protocol 58 with an IPv6 CIDR block (MissingParameter otherwise).
    acl = _custom_acl(target)
    value = "0.0.0.0/0" if cidr == "CidrBlock" else "::/0"
    with pytest.raises(ClientError) as refused:
        target.ec2.create_network_acl_entry(
            NetworkAclId=acl, RuleNumber=300, Protocol=protocol, RuleAction="allow",
            Egress=False, **{cidr: value},
        )  # fmt: skip
    assert refused.value.response["Error"]["Code"] == "MissingParameter"
    # With it, the entry is made and read back with its type and code
    target.ec2.create_network_acl_entry(
        NetworkAclId=acl, RuleNumber=300, Protocol=protocol, RuleAction="allow", Egress=False,
        IcmpTypeCode={"Type": 3, "Code": 4}, **{cidr: value},
    )  # fmt: skip
    entries = target.ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    made = next(e for e in entries if e["RuleNumber"] == 300 and not e["Egress"])
    assert made["IcmpTypeCode"] == {"Type": 3, "Code": 4}


def test_a_cluster_made_through_the_api_is_config_map_and_refuses_access_entries(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Reference: EKS API reference, CreateAccessConfigRequest: created through the API, an SDK or
    # CloudFormation without accessConfig, a cluster is in CONFIG_MAP mode; access entries need
    # API or API_AND_CONFIG_MAP (EKS user guide, access entries). Endpoint defaults: public,
    # from 0.0.0.0/0 (VpcConfigRequest).
    eks = target.eks
    subnets = list(discover(target, SMALL.cluster).cluster.subnet_ids)[:2]
    eks.create_cluster(
        name="legacy", roleArn="arn:aws:iam::222222222222:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": subnets},
    )  # fmt: skip
    cluster = eks.describe_cluster(name="legacy")["cluster"]
    assert cluster["accessConfig"]["authenticationMode"] == "CONFIG_MAP"
    assert cluster["resourcesVpcConfig"]["endpointPublicAccess"] is True
    assert cluster["resourcesVpcConfig"]["publicAccessCidrs"] == ["0.0.0.0/0"]
    ops = target.iam.create_role(RoleName="ops", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    with pytest.raises(ClientError) as refused:
        eks.create_access_entry(clusterName="legacy", principalArn=ops)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    # The mode moves forward only
    eks.update_cluster_config(
        name="legacy", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"}
    )
    eks.create_access_entry(clusterName="legacy", principalArn=ops)
    with pytest.raises(ClientError):
        eks.update_cluster_config(name="legacy", accessConfig={"authenticationMode": "CONFIG_MAP"})


@pytest.mark.parametrize(
    "endpoint",
    [{"endpoint_public_access": False}, {"public_access_cidrs": ("192.0.2.0/24",)}],
    ids=["private-only", "cidrs-without-the-functions"],
)
def test_an_endpoint_the_functions_cannot_reach_gives_no_answer(
    moto: None, endpoint: dict[str, Any]
) -> None:
    # Reference: EKS user guide, cluster endpoint access control: a private-only endpoint is not
    # reachable from outside the VPC; publicAccessCidrs admit only the listed sources.
    from local.seed import seed
    from v6migrate.aws import target_clients

    spec = SMALL.model_copy(update=endpoint)
    seed(spec)
    clients = target_clients(spec.account_id, spec.region)
    ctx = Context(clients=clients, inventory=discover(clients, spec.cluster), migration_id="m-1")
    with kube.access(ctx, ()), pytest.raises(kube.KubeUnreachable):
        kube.connect(ctx).nodes()


def test_a_launch_template_version_from_a_source_inherits_its_data(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Reference: EC2 API reference, CreateLaunchTemplateVersion: the new version inherits the
    # source version's parameters except those given in LaunchTemplateData.
    made = target.ec2.create_launch_template(
        LaunchTemplateName="nodes",
        LaunchTemplateData={"ImageId": "ami-0aaa", "InstanceType": "m6g.large",
                            "UserData": "IyEvYmluL2Jhc2g="},
    )["LaunchTemplate"]  # fmt: skip
    version = target.ec2.create_launch_template_version(
        LaunchTemplateId=made["LaunchTemplateId"], SourceVersion="1",
        LaunchTemplateData={"InstanceType": "m7g.large"},
    )["LaunchTemplateVersion"]  # fmt: skip
    assert version["LaunchTemplateData"] == {
        "ImageId": "ami-0aaa", "InstanceType": "m7g.large", "UserData": "IyEvYmluL2Jhc2g=",
    }  # fmt: skip
    with pytest.raises(ClientError) as missing:
        target.ec2.create_launch_template_version(
            LaunchTemplateId=made["LaunchTemplateId"], SourceVersion="9", LaunchTemplateData={}
        )
    assert missing.value.response["Error"]["Code"] == "InvalidLaunchTemplateId.VersionNotFound"


def test_a_version_update_without_a_release_moves_to_the_latest_ami_and_never_back(
    moto: None,
) -> None:
    # Reference: EKS API reference, UpdateNodegroupVersion: "By default, the latest available AMI
    # version for the node group's Kubernetes version is used"; "You cannot roll back a node
    # group to an earlier Kubernetes version or AMI version"; with a custom AMI in the launch
    # template, releaseVersion must not be given.
    from local.gaps.eks import AMI_RELEASES
    from local.gaps.timing import CLOCK
    from local.seed import NodegroupSpec, seed
    from v6migrate.aws import target_clients

    old, latest = AMI_RELEASES[SMALL.kubernetes_version]
    spec = SMALL.model_copy(update={"nodegroups": (
        NodegroupSpec(name="pinned", custom_ami=False, release_version=old, nodes=1),
        NodegroupSpec(name="custom", nodes=1),
    )})  # fmt: skip
    seed(spec)
    eks = target_clients(spec.account_id, spec.region).eks
    group = eks.describe_nodegroup(clusterName=spec.cluster, nodegroupName="pinned")["nodegroup"]
    assert group["releaseVersion"] == old
    update = eks.update_nodegroup_version(clusterName=spec.cluster, nodegroupName="pinned")
    CLOCK.skip(3600)
    assert (
        eks.describe_update(
            name=spec.cluster, nodegroupName="pinned", updateId=update["update"]["id"]
        )["update"]["status"]
        == "Successful"
    )
    group = eks.describe_nodegroup(clusterName=spec.cluster, nodegroupName="pinned")["nodegroup"]
    assert group["releaseVersion"] == latest
    with pytest.raises(ClientError) as back:
        eks.update_nodegroup_version(
            clusterName=spec.cluster, nodegroupName="pinned", releaseVersion=old
        )
    assert back.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "roll back" in back.value.response["Error"]["Message"]
    custom = eks.describe_nodegroup(clusterName=spec.cluster, nodegroupName="custom")["nodegroup"]
    assert custom["releaseVersion"] == "ami-0eks0node0image0sim"
    with pytest.raises(ClientError) as refused:
        eks.update_nodegroup_version(
            clusterName=spec.cluster, nodegroupName="custom", releaseVersion=latest
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"


def _self_managed_group(target: Clients) -> str:
    groups = target.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    return str(
        next(g for g in groups if g["AutoScalingGroupName"].endswith("legacy-asg"))[
            "AutoScalingGroupName"
        ]
    )


def test_an_instance_refresh_waits_for_protected_instances_by_default_then_fails(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Reference: Auto Scaling user guide, instance refresh preferences: ScaleInProtectedInstances
    # defaults to Wait, which waits for the protection to be removed and fails after one hour;
    # Refresh replaces protected instances too.
    from local.gaps.timing import CLOCK

    name = _self_managed_group(target)
    asg = target.autoscaling
    instance = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][
        0
    ]["Instances"][0]["InstanceId"]
    asg.set_instance_protection(
        AutoScalingGroupName=name, InstanceIds=[instance], ProtectedFromScaleIn=True
    )
    refresh = asg.start_instance_refresh(AutoScalingGroupName=name)["InstanceRefreshId"]

    def status() -> dict[str, Any]:
        return dict(asg.describe_instance_refreshes(
            AutoScalingGroupName=name, InstanceRefreshIds=[refresh]
        )["InstanceRefreshes"][0])  # fmt: skip

    CLOCK.skip(600)
    assert status()["Status"] == "InProgress"
    assert "protected" in status()["StatusReason"]
    CLOCK.skip(3600)
    assert status()["Status"] == "Failed"
    # With Refresh, the protected instance is replaced like the others
    again = asg.start_instance_refresh(
        AutoScalingGroupName=name, Preferences={"ScaleInProtectedInstances": "Refresh"}
    )["InstanceRefreshId"]
    CLOCK.skip(3600)
    done = asg.describe_instance_refreshes(AutoScalingGroupName=name, InstanceRefreshIds=[again])
    assert done["InstanceRefreshes"][0]["Status"] == "Successful"
    left = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert instance not in {i["InstanceId"] for i in left["Instances"]}


def test_a_node_group_is_updating_while_its_update_runs(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Reference: EKS API reference, Nodegroup.status (ACTIVE | UPDATING | ...).
    from local.gaps.timing import CLOCK

    target.eks.update_nodegroup_version(clusterName=SMALL.cluster, nodegroupName="system")
    group = target.eks.describe_nodegroup(clusterName=SMALL.cluster, nodegroupName="system")
    assert group["nodegroup"]["status"] == "UPDATING"
    CLOCK.skip(3600)
    group = target.eks.describe_nodegroup(clusterName=SMALL.cluster, nodegroupName="system")
    assert group["nodegroup"]["status"] == "ACTIVE"


@pytest.mark.parametrize(
    "caller",
    ["arn:aws:iam::123456789012:user/ops/alice", "arn:aws-cn:iam::123456789012:user/bob",
     "arn:aws:iam::123456789012:root"],
)  # fmt: skip
def test_a_caller_that_is_no_role_session_is_its_own_principal(caller: str) -> None:
    # GetCallerIdentity of an IAM user (the CLI run with a user's keys) is the user's own ARN,
    # which an access entry names as it is (EKS user guide, creating access entries)
    assert kube.role_arn(caller) == caller


def test_an_access_entry_names_an_existing_principal_and_a_role_keeps_its_path(
    moto: None,
) -> None:
    # Reference: EKS user guide, creating access entries: one existing IAM principal; a role's
    # ARN may include its path, and the STS session ARN of that role drops it.
    import boto3

    iam = boto3.client("iam")
    role = iam.create_role(RoleName="ops", Path="/platform/team/", AssumeRolePolicyDocument="{}")[
        "Role"
    ]["Arn"]
    account = role.split(":")[4]
    session = boto3.client("sts").assume_role(RoleArn=role, RoleSessionName="me")
    caller = session["AssumedRoleUser"]["Arn"]
    assert caller == f"arn:aws:sts::{account}:assumed-role/ops/me"
    # The workflow's view: the role behind the session, with its path
    assert kube.role_arn(caller, iam) == role
    # EKS's view: a path-less ARN names no principal
    eks = boto3.client("eks", region_name=SMALL.region)
    cluster = "tooling"
    ec2 = boto3.client("ec2", region_name=SMALL.region)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    eks.create_cluster(
        name=cluster, roleArn=role, resourcesVpcConfig={"subnetIds": [subnet]},
        accessConfig={"authenticationMode": "API"},
    )  # fmt: skip
    with pytest.raises(ClientError) as refused:
        eks.create_access_entry(
            clusterName=cluster, principalArn=f"arn:aws:iam::{account}:role/ops"
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    eks.create_access_entry(clusterName=cluster, principalArn=role)


def test_pod_security_admission_and_namespace_rights_are_enforced(
    small_estate: dict[str, Any], target: Clients
) -> None:
    # Reference: Kubernetes docs, Pod Security Admission and the Pod Security Standards (a pod
    # in a namespace that enforces `restricted` must run as non-root, without privilege
    # escalation, dropping ALL capabilities, with a RuntimeDefault seccomp profile); EKS user
    # guide, access policies: only AmazonEKSClusterAdminPolicy writes cluster-scoped objects.
    ctx = Context(clients=target, inventory=discover(target, SMALL.cluster), migration_id="m-1")
    plain = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": "strict", "labels": {
                     "pod-security.kubernetes.io/enforce": "restricted"}}}  # fmt: skip
    with kube.access(ctx, ("strict",)) as who:
        client = kube.connect(ctx)
        with pytest.raises(kube.KubeUnauthorized, match="403"):
            client.request("POST", "/api/v1/namespaces", namespace)  # edit cannot
        with kube.cluster_admin(ctx, who):
            client.request("POST", "/api/v1/namespaces", namespace)
        with pytest.raises(kube.KubeError, match="Pod Security admission") as refused:
            client.request("POST", "/api/v1/namespaces/strict/pods", plain)
        assert "runAsNonRoot != true" in str(refused.value)
        assert "allowPrivilegeEscalation != false" in str(refused.value)
        # The workflow's probe pod passes `restricted`
        client.run_probe("strict", "probe", "some-node", "true", "busybox")
        with kube.cluster_admin(ctx, who):
            client.delete_namespace("strict")
        assert client.request("GET", "/api/v1/namespaces/strict") is None


@pytest.mark.parametrize("modified", [False, True])
def test_the_default_network_acl_gets_ipv6_rules_with_the_vpcs_block_unless_modified(
    moto: None, modified: bool
) -> None:
    # Reference: Amazon VPC user guide, "Default network ACL": rule 101 allows all IPv6 traffic
    # in and out once an IPv6 block is associated, unless the default ACL's rules were changed.
    import boto3

    ec2 = boto3.client("ec2", region_name="eu-west-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]}]
    acl = ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"][0]["NetworkAclId"]
    if modified:
        ec2.create_network_acl_entry(
            NetworkAclId=acl, RuleNumber=90, Protocol="6", RuleAction="deny", Egress=False,
            CidrBlock="0.0.0.0/0", PortRange={"From": 22, "To": 22},
        )  # fmt: skip
    ec2.associate_vpc_cidr_block(VpcId=vpc, AmazonProvidedIpv6CidrBlock=True)
    entries = ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    ipv6 = {(e["Egress"], e["RuleNumber"], e["RuleAction"]) for e in entries
            if e.get("Ipv6CidrBlock") == "::/0"}  # fmt: skip
    expected = {(egress, number, action) for egress in (False, True)
                for number, action in ((101, "allow"), (32768, "deny"))}  # fmt: skip
    assert ipv6 == (set() if modified else expected)


def _one_instance(ec2: Any) -> dict[str, Any]:
    """A dual-stack VPC with one instance in a subnet of its own ACL, route table and group."""
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    block = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["Ipv6CidrBlockAssociationSet"][0]
    subnet = ec2.create_subnet(
        VpcId=vpc["VpcId"], CidrBlock="10.9.1.0/24",
        Ipv6CidrBlock=block["Ipv6CidrBlock"].replace("/56", "/64"),
    )["Subnet"]["SubnetId"]  # fmt: skip
    table = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    group = ec2.create_security_group(GroupName="node", Description="n", VpcId=vpc["VpcId"])
    acl = ec2.create_network_acl(VpcId=vpc["VpcId"])["NetworkAcl"]["NetworkAclId"]
    current = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}]
    )["NetworkAcls"][0]
    association = next(a["NetworkAclAssociationId"] for a in current["Associations"]
                       if a["SubnetId"] == subnet)  # fmt: skip
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl)
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, Ipv6AddressCount=1,
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group["GroupId"]],
                            "Ipv6AddressCount": 1}],
    )["Instances"][0]["InstanceId"]  # fmt: skip
    return {"vpc": vpc["VpcId"], "table": table, "group": group["GroupId"], "acl": acl,
            "instance": instance}  # fmt: skip


def test_ipv6_egress_is_decided_by_routes_security_groups_and_both_acl_directions(
    moto: None,
) -> None:
    # Reference: Amazon VPC user guide: route tables (most specific route; internet through an
    # internet or egress-only gateway), security groups (stateful egress rules), network ACLs
    # (stateless, lowest rule first, final deny; the answer comes back to an ephemeral port).
    import boto3
    from moto.ec2.models import ec2_backends

    from local.network_path import tcp_out

    ec2 = boto3.client("ec2", region_name="eu-west-1")
    made = _one_instance(ec2)
    backend = ec2_backends["123456789012"]["eu-west-1"]
    instance = backend.get_instance(made["instance"])

    def out() -> str | None:
        return tcp_out(backend, instance, "2001:db8::1", 443)

    group, acl = made["group"], made["acl"]
    # a new group in a dual-stack VPC allows all egress, IPv6 too (EC2: default egress rules)
    ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])  # fmt: skip
    assert "no route" in str(out())
    gateway = ec2.create_egress_only_internet_gateway(VpcId=made["vpc"])
    gateway_id = gateway["EgressOnlyInternetGateway"]["EgressOnlyInternetGatewayId"]
    ec2.create_route(RouteTableId=made["table"], DestinationIpv6CidrBlock="::/0",
                     EgressOnlyInternetGatewayId=gateway_id)  # fmt: skip
    assert "security groups" in str(out())
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])  # fmt: skip
    assert "denies it outbound (no rule" in str(out())  # a new ACL denies everything
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6",
                                 RuleAction="allow", Egress=True, Ipv6CidrBlock="::/0",
                                 PortRange={"From": 443, "To": 443})  # fmt: skip
    assert "denies the answer inbound" in str(out())
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=90, Protocol="-1",
                                 RuleAction="deny", Egress=False,
                                 Ipv6CidrBlock="2001:db8::/32")  # fmt: skip
    ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6",
                                 RuleAction="allow", Egress=False, Ipv6CidrBlock="::/0",
                                 PortRange={"From": 1024, "To": 65535})  # fmt: skip
    assert "inbound (rule 90)" in str(out())  # the lower number decides
    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=90, Egress=False)
    assert out() is None
    ec2.delete_egress_only_internet_gateway(EgressOnlyInternetGatewayId=gateway_id)
    assert "no longer exists" in str(out())


def test_a_pods_command_runs_as_busybox_sh_would() -> None:
    # The probe's script, interpreted: `$(...)` captures stdout only, `||` runs its right side
    # when the left fails, errors go to stderr (the pod's log), an unknown command is 127.
    from local.pod_shell import ImagePullError, Shell, check_image

    answers: dict[str, tuple[str | None, str]] = {
        "https://ok.example": ("2600::5", ""),
        "https://down.example": (None, "download timed out"),
    }
    shell = Shell(lambda device: "inet6 fd00::ac:2/118\n" if device == "v6if0" else None,
                  lambda url, timeout: answers[url])  # fmt: skip
    ran = shell.run('ip -6 addr show dev v6if0; echo "egress-source: $(wget -q -T 10 -O - '
                    'https://ok.example || echo failed)"')  # fmt: skip
    assert (ran.output, ran.exit_code) == ("inet6 fd00::ac:2/118\negress-source: 2600::5\n", 0)
    ran = shell.run('echo "egress-source: $(wget -q -T 10 -O - https://down.example || echo '
                    'failed)"')  # fmt: skip
    assert ran.output == "wget: download timed out\negress-source: failed\n"
    ran = shell.run("ip -6 addr show dev eth9; curl -s https://ok.example")
    assert ran.output == 'Device "eth9" does not exist.\nsh: curl: not found\n'
    assert ran.exit_code == 127
    check_image("public.ecr.aws/docker/library/busybox:stable")
    with pytest.raises(ImagePullError):
        check_image("registry.example/tools:1")


@pytest.mark.parametrize(
    ("version", "egress", "node_ipv6", "crashes"),
    [("v1.13.0-eksbuild.1", True, False, True), ("v1.16.2-eksbuild.1", True, False, True),
     ("v1.16.3-eksbuild.1", True, False, False), ("v1.12.6", True, False, False),
     ("v1.16.0-eksbuild.1", False, False, False), ("v1.16.0-eksbuild.1", True, True, False)],
)  # fmt: skip
def test_aws_node_crash_loops_without_node_ipv6_from_1_13_0_until_1_16_3(
    version: str, egress: bool, node_ipv6: bool, crashes: bool
) -> None:
    # Reference: VPC CNI release notes (v1.16.3 fixed aws-node exiting on a node without IPv6
    # when ENABLE_V6_EGRESS is on; the flag exists from v1.13.0); DOMAIN.md, VPC CNI.
    from local.cluster import _crashing

    image = f"602401143452.dkr.ecr.eu-west-1.amazonaws.com/amazon-k8s-cni:{version}"
    assert _crashing(image, egress, node_ipv6) is crashes


def test_aws_node_rolls_out_a_new_template_a_few_nodes_at_a_time() -> None:
    # Reference: the aws-node DaemonSet's update strategy (amazon-vpc-cni-k8s manifest:
    # RollingUpdate, maxUnavailable "10%", rounded up); the DaemonSet controller observes a new
    # template before it acts (status.observedGeneration), and `kubectl rollout status` waits
    # for updatedNumberScheduled and numberAvailable to reach desiredNumberScheduled.
    from local.cluster import AWS_NODE_READY_SECONDS as READY
    from local.cluster import OBSERVE_SECONDS as SEEN
    from local.cluster import rolling_update

    calm = [False] * 3
    assert rolling_update(calm, calm, None) == {"observed": True, "updated": 3, "available": 3}
    # not yet observed: the status still describes the old template's pods
    assert rolling_update(calm, calm, SEEN / 2) == {"observed": False, "updated": 3, "available": 3}
    # then one pod at a time (10 % of 3, rounded up), each ready some seconds after its start
    assert rolling_update(calm, calm, SEEN) == {"observed": True, "updated": 1, "available": 2}
    assert rolling_update(calm, calm, SEEN + READY) == {
        "observed": True,
        "updated": 2,
        "available": 2,
    }
    assert rolling_update(calm, calm, SEEN + 3 * READY) == {
        "observed": True,
        "updated": 3,
        "available": 3,
    }
    # 25 nodes: three at a time
    assert rolling_update([False] * 25, [False] * 25, SEEN)["updated"] == 3


def test_a_crash_looping_aws_node_pod_holds_the_rollout() -> None:
    from local.cluster import AWS_NODE_READY_SECONDS as READY
    from local.cluster import OBSERVE_SECONDS as SEEN
    from local.cluster import rolling_update

    # the first node's new pod never gets ready: the controller goes no further
    crash_new, calm = [True, False, False], [False] * 3
    late = rolling_update(crash_new, calm, SEEN + 100 * READY)
    assert late == {"observed": True, "updated": 1, "available": 2}
    # a pod unavailable on the old template is replaced first (it counts against the budget)
    crash_old = [False, False, True]
    assert rolling_update(calm, crash_old, SEEN / 2)["available"] == 2
    assert rolling_update(calm, crash_old, SEEN) == {"observed": True, "updated": 1, "available": 2}
    assert rolling_update(calm, crash_old, SEEN + READY)["updated"] == 2
    assert rolling_update(calm, crash_old, SEEN + 3 * READY)["available"] == 3
