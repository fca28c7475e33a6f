"""The estate seeder: realistic IPv4 EKS estates, built through the public AWS APIs.

It only calls boto3, so the same seeder builds an estate in `mock_aws`, in `local serve`, or
(with care) in a sandbox account. The cluster lives in the target account, reached by
assuming the target role from the workflow's account, as on AWS.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import os
import urllib.request
from typing import Any, Literal

import boto3
from pydantic import BaseModel, ConfigDict, Field

from local.gaps.timing import CLOCK, DURATIONS, NODE_READY_SECONDS
from v6migrate.aws import NETWORK_MANAGER_REGION, new_session

WORKFLOW_ACCOUNT = "123456789012"
TARGET_ACCOUNT = "222222222222"
PEER_ACCOUNT = "333333333333"  # shared services, peered with the cluster's VPC
TARGET_ROLE = "v6migrate-target"
EXTERNAL_ID = "v6migrate-local"


class NodegroupSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Literal["managed", "self-managed"] = "managed"
    launch_template: bool = True
    nodes: int = Field(default=2, ge=0, le=20)
    # A launch template with its own AMI (ImageId) or, False, EKS's optimized AMI at
    # `release_version` (None: the latest release, as CreateNodegroup picks by default).
    custom_ami: bool = True
    release_version: str | None = None
    # Self-managed: a termination lifecycle hook, as aws-node-termination-handler's queue mode
    # uses to drain each node before Auto Scaling terminates it.
    termination_hook: bool = True
    # Launch template versions made (each from the one before, with user data), and the one
    # the group runs (None: the latest), as a template that has lived a while has.
    template_versions: int = Field(default=1, ge=1, le=5)
    template_version: int | None = None


class EstateSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: str = TARGET_ACCOUNT
    region: str = "eu-west-1"
    cluster: str = "orders-prod"
    kubernetes_version: str = "1.31"
    vpc_cidr: str = "10.20.0.0/16"
    azs: int = Field(default=3, ge=1, le=3)
    private_subnets: int = 3
    public_subnets: int = 3
    private_route_tables: int = 3
    extra_security_groups: int = 2
    custom_nacl: bool = True
    transit_gateway: bool = True
    peering: bool = True
    cloud_wan: bool = True
    edges: bool = True  # load balancers, an endpoint service and an interface endpoint
    # EKS API reference, CreateAccessConfigRequest: CONFIG_MAP unless asked; the seeded
    # clusters ask for access entries as an operator of a current cluster would.
    authentication_mode: Literal["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"] = "API_AND_CONFIG_MAP"
    endpoint_public_access: bool = True
    public_access_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    cluster_tags: dict[str, str] = Field(default_factory=dict)  # e.g. a wave's selector
    cni_version: str = "v1.18.3-eksbuild.1"
    cni_addon: bool = True  # False: a self-managed VPC CNI (aws-node without the EKS add-on)
    cni_configuration: dict[str, Any] = Field(
        default_factory=lambda: {"env": {"WARM_IP_TARGET": "5", "MINIMUM_IP_TARGET": "10"}}
    )
    # The pitfalls a real estate has and a fresh one lacks (issue 8): an ICMP NACL entry, another
    # cluster's nodes in the same VPC, a Karpenter node, a Fargate profile, an inspection subnet
    # whose default route goes to a firewall's interface.
    pitfalls: bool = False
    nodegroups: tuple[NodegroupSpec, ...] = (
        NodegroupSpec(name="system", nodes=2),
        NodegroupSpec(name="batch", launch_template=False, nodes=1),
        NodegroupSpec(name="legacy-asg", kind="self-managed", nodes=1),
    )


ESTATES: dict[str, EstateSpec] = {
    "small": EstateSpec(),
    "realistic": EstateSpec(
        cluster="payments-prod",
        vpc_cidr="10.30.0.0/16",
        pitfalls=True,
        nodegroups=(
            NodegroupSpec(
                name="system",
                nodes=2,
                custom_ami=False,
                release_version="1.31.2-20260915",
                template_versions=3,
                template_version=2,
            ),
            NodegroupSpec(
                name="batch", launch_template=False, nodes=1, release_version="1.31.2-20260915"
            ),
            NodegroupSpec(name="legacy-asg", kind="self-managed", nodes=1),
        ),
    ),
    "large": EstateSpec(
        cluster="platform-large",
        vpc_cidr="10.64.0.0/16",
        private_subnets=150,
        public_subnets=50,
        private_route_tables=99,
        extra_security_groups=297,
        nodegroups=tuple(
            [NodegroupSpec(name=f"managed-{i:02d}", nodes=1) for i in range(12)]
            + [
                NodegroupSpec(name=f"classic-{i:02d}", launch_template=False, nodes=1)
                for i in range(4)
            ]
            + [NodegroupSpec(name=f"self-{i:02d}", kind="self-managed", nodes=1) for i in range(4)]
        ),
    ),
}


def _tags(name: str, resource: str, **extra: str) -> Any:
    tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in extra.items()]
    return [{"ResourceType": resource, "Tags": tags}]


def target_session(
    region: str, account_id: str = TARGET_ACCOUNT, base: boto3.Session | None = None
) -> boto3.Session:
    """A session acting in `account_id`, by assuming the target role as the workflow does."""
    base = base or new_session(region_name=region)
    credentials = base.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{TARGET_ROLE}",
        RoleSessionName="v6migrate-seeder",
        ExternalId=EXTERNAL_ID,
    )["Credentials"]
    return new_session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def _target_role(session: boto3.Session) -> None:
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{WORKFLOW_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
            }
        ],
    }
    # target-account-role.yaml's two roles: the stages', and the read-only one of dry runs
    for name in (TARGET_ROLE, f"{TARGET_ROLE}-read"):
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))


def seed(spec: EstateSpec, base: boto3.Session | None = None) -> dict[str, Any]:
    """Build the estate; return the ids a test or the demo needs."""
    session = target_session(spec.region, spec.account_id, base)
    _target_role(session)
    ec2 = session.client("ec2")
    azs = [f"{spec.region}{letter}" for letter in "abc"[: spec.azs]]
    vpc_id = ec2.create_vpc(
        CidrBlock=spec.vpc_cidr, TagSpecifications=_tags(f"{spec.cluster}-vpc", "vpc")
    )["Vpc"]["VpcId"]
    blocks = ipaddress.IPv4Network(spec.vpc_cidr).subnets(new_prefix=24)

    def subnet(kind: str, index: int) -> str:
        cidr = str(next(blocks))
        return str(
            ec2.create_subnet(
                VpcId=vpc_id,
                CidrBlock=cidr,
                AvailabilityZone=azs[index % len(azs)],
                TagSpecifications=_tags(
                    f"{spec.cluster}-{kind}-{index}",
                    "subnet",
                    **{f"kubernetes.io/role/{'elb' if kind == 'public' else 'internal-elb'}": "1"},
                ),
            )["Subnet"]["SubnetId"]
        )

    public = [subnet("public", i) for i in range(spec.public_subnets)]
    private = [subnet("private", i) for i in range(spec.private_subnets)]

    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    public_rt = ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=_tags(f"{spec.cluster}-public", "route-table")
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    for subnet_id in public:
        ec2.associate_route_table(RouteTableId=public_rt, SubnetId=subnet_id)

    nats = []
    for index in range(min(spec.azs, len(public))):
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        nats.append(
            ec2.create_nat_gateway(SubnetId=public[index], AllocationId=allocation)["NatGateway"][
                "NatGatewayId"
            ]
        )
    private_rts = []
    for index in range(spec.private_route_tables):
        table = ec2.create_route_table(
            VpcId=vpc_id, TagSpecifications=_tags(f"{spec.cluster}-private-{index}", "route-table")
        )["RouteTable"]["RouteTableId"]
        ec2.create_route(
            RouteTableId=table,
            DestinationCidrBlock="0.0.0.0/0",
            NatGatewayId=nats[index % len(nats)],
        )
        private_rts.append(table)
    for index, subnet_id in enumerate(private):
        ec2.associate_route_table(
            RouteTableId=private_rts[index % len(private_rts)], SubnetId=subnet_id
        )

    node_sg = ec2.create_security_group(
        GroupName=f"{spec.cluster}-nodes",
        Description="EKS worker nodes",
        VpcId=vpc_id,
        TagSpecifications=_tags(
            f"{spec.cluster}-nodes",
            "security-group",
            **{f"kubernetes.io/cluster/{spec.cluster}": "owned"},
        ),
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=node_sg,
        IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": node_sg}]}],
    )
    for index in range(spec.extra_security_groups):
        group = ec2.create_security_group(
            GroupName=f"{spec.cluster}-app-{index}", Description="application", VpcId=vpc_id
        )["GroupId"]
        if index % 2 == 0:
            ec2.authorize_security_group_ingress(
                GroupId=group,
                IpPermissions=[
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                    }
                ],
            )

    if spec.custom_nacl:
        acl = ec2.create_network_acl(
            VpcId=vpc_id, TagSpecifications=_tags(f"{spec.cluster}-private", "network-acl")
        )["NetworkAcl"]["NetworkAclId"]
        for egress in (False, True):
            ec2.create_network_acl_entry(
                NetworkAclId=acl, RuleNumber=100, Protocol="-1", RuleAction="allow",
                Egress=egress, CidrBlock="0.0.0.0/0",
            )  # fmt: skip
            ec2.create_network_acl_entry(
                NetworkAclId=acl, RuleNumber=90, Protocol="6", RuleAction="deny",
                Egress=egress, CidrBlock="0.0.0.0/0", PortRange={"From": 23, "To": 23},
            )  # fmt: skip
        associations = {
            a["SubnetId"]: a["NetworkAclAssociationId"]
            for page in ec2.get_paginator("describe_network_acls").paginate(
                Filters=[{"Name": "vpc-id", "Values": [vpc_id]}]
            )
            for n in page["NetworkAcls"]
            for a in n.get("Associations", [])
        }
        for subnet_id in private[:3]:
            if subnet_id in associations:
                ec2.replace_network_acl_association(
                    AssociationId=associations[subnet_id], NetworkAclId=acl
                )

    result: dict[str, Any] = {
        "account_id": spec.account_id,
        "region": spec.region,
        "cluster": spec.cluster,
        "vpc_id": vpc_id,
        "public_subnets": public,
        "private_subnets": private,
    }
    if spec.transit_gateway:
        tgw = ec2.create_transit_gateway(Description="shared hub")["TransitGateway"][
            "TransitGatewayId"
        ]
        attachment = ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw, VpcId=vpc_id, SubnetIds=private[: spec.azs]
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        for table in private_rts:
            ec2.create_route(
                RouteTableId=table, DestinationCidrBlock="10.0.0.0/12", TransitGatewayId=tgw
            )
        result["transit_gateway_attachment"] = attachment
    if spec.peering:
        # The peer is a dual-stack shared-services VPC in another account, as is common.
        peer_session = target_session(spec.region, PEER_ACCOUNT, base)
        _target_role(peer_session)
        peer_ec2 = peer_session.client("ec2")
        peer_vpc = peer_ec2.create_vpc(
            CidrBlock="10.99.0.0/16", TagSpecifications=_tags("shared-services", "vpc")
        )["Vpc"]["VpcId"]
        peer_ec2.associate_vpc_cidr_block(VpcId=peer_vpc, AmazonProvidedIpv6CidrBlock=True)
        peering = ec2.create_vpc_peering_connection(
            VpcId=vpc_id, PeerVpcId=peer_vpc, PeerOwnerId=PEER_ACCOUNT
        )["VpcPeeringConnection"]["VpcPeeringConnectionId"]
        peer_ec2.accept_vpc_peering_connection(VpcPeeringConnectionId=peering)
        peer_table = peer_ec2.create_route_table(
            VpcId=peer_vpc, TagSpecifications=_tags("shared-services-private", "route-table")
        )["RouteTable"]["RouteTableId"]
        peer_ec2.create_route(
            RouteTableId=peer_table, DestinationCidrBlock=spec.vpc_cidr,
            VpcPeeringConnectionId=peering,
        )  # fmt: skip
        result["peer_route_table"] = peer_table
        for table in private_rts:
            ec2.create_route(
                RouteTableId=table,
                DestinationCidrBlock="10.99.0.0/16",
                VpcPeeringConnectionId=peering,
            )
        result["peering"] = peering
    if spec.cloud_wan:
        manager = session.client("networkmanager", region_name=NETWORK_MANAGER_REGION)
        global_network = manager.create_global_network(Description="global")["GlobalNetwork"][
            "GlobalNetworkId"
        ]
        core = manager.create_core_network(GlobalNetworkId=global_network)["CoreNetwork"][
            "CoreNetworkId"
        ]
        arn = f"arn:aws:ec2:{spec.region}:{spec.account_id}"
        result["cloud_wan_attachment"] = manager.create_vpc_attachment(
            CoreNetworkId=core,
            VpcArn=f"{arn}:vpc/{vpc_id}",
            SubnetArns=[f"{arn}:subnet/{s}" for s in private[: spec.azs]],
        )["VpcAttachment"]["Attachment"]["AttachmentId"]

    if spec.edges:
        result.update(_edges(session, spec, vpc_id, public, private))
    _cluster(session, spec, private, node_sg)
    if spec.pitfalls:
        result.update(_pitfalls(session, spec, vpc_id, private, node_sg, next(blocks)))
    # The estate has run a while before anyone migrates it: its add-ons and node groups are
    # ACTIVE, its nodes have joined and are Ready.
    _let_time_pass(max(NODE_READY_SECONDS, *DURATIONS.values()))
    return result


def _let_time_pass(seconds: float) -> None:
    """Move the embedded AWS's clock on: over HTTP when it serves (maybe in another process),
    or in this process under `mock_aws`."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        CLOCK.skip(seconds)
        return
    request = urllib.request.Request(  # noqa: S310 (the embedded AWS's own endpoint)
        endpoint.rstrip("/") + "/moto-api/v6migrate/clock",
        data=json.dumps({"skip": seconds}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def _pitfalls(
    session: boto3.Session, spec: EstateSpec, vpc_id: str, private: list[str], node_sg: str,
    spare: ipaddress.IPv4Network,
) -> dict[str, Any]:  # fmt: skip
    """What a lived-in estate holds beside the cluster, each the way its owner made it."""
    ec2, eks = session.client("ec2"), session.client("eks")
    found: dict[str, Any] = {}
    # Path MTU discovery: every ICMP unreachable message allowed in the custom NACL
    acls = ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "default", "Values": ["false"]}]
    )["NetworkAcls"]
    for acl in acls:
        ec2.create_network_acl_entry(
            NetworkAclId=acl["NetworkAclId"], RuleNumber=80, Protocol="1", RuleAction="allow",
            Egress=False, CidrBlock="0.0.0.0/0", IcmpTypeCode={"Type": 3, "Code": -1},
        )  # fmt: skip
    # Another team's cluster in the same VPC, with a managed node group of its own
    other = f"{spec.cluster}-shared"[:40]
    eks.create_cluster(
        name=other, version=spec.kubernetes_version,
        roleArn=f"arn:aws:iam::{spec.account_id}:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": private[:2]},
        accessConfig={"authenticationMode": "API"},
    )  # fmt: skip
    eks.create_nodegroup(
        clusterName=other, nodegroupName="web", subnets=private[:2],
        nodeRole=f"arn:aws:iam::{spec.account_id}:role/eks-node", instanceTypes=["m6g.large"],
        scalingConfig={"minSize": 0, "maxSize": 2, "desiredSize": 1},
    )  # fmt: skip
    found["other_cluster"] = other
    # A node Karpenter launched (Karpenter v1's tags), in no node group
    karpenter = ec2.run_instances(
        ImageId="ami-0eks0node0image0sim", InstanceType="m6g.xlarge", MinCount=1, MaxCount=1,
        SubnetId=private[1], SecurityGroupIds=[node_sg],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": f"kubernetes.io/cluster/{spec.cluster}", "Value": "owned"},
            {"Key": "eks:eks-cluster-name", "Value": spec.cluster},
            {"Key": "karpenter.sh/nodepool", "Value": "default"},
            {"Key": "karpenter.k8s.aws/ec2nodeclass", "Value": "default"}]}],
    )["Instances"][0]["InstanceId"]  # fmt: skip
    found["karpenter_node"] = karpenter
    # Batch jobs on Fargate
    eks.create_fargate_profile(
        fargateProfileName="jobs", clusterName=spec.cluster,
        podExecutionRoleArn=f"arn:aws:iam::{spec.account_id}:role/eks-fargate-pods",
        subnets=private[:2], selectors=[{"namespace": "jobs"}],
    )  # fmt: skip
    # An inspection subnet whose default route goes through a firewall's interface
    inspection = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock=str(spare), AvailabilityZone=f"{spec.region}a",
        TagSpecifications=_tags(f"{spec.cluster}-inspection-0", "subnet"),
    )["Subnet"]["SubnetId"]  # fmt: skip
    firewall = ec2.create_network_interface(
        SubnetId=inspection, Description="firewall appliance (security team)"
    )["NetworkInterface"]["NetworkInterfaceId"]
    table = ec2.create_route_table(
        VpcId=vpc_id, TagSpecifications=_tags(f"{spec.cluster}-inspection", "route-table")
    )["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=firewall
    )
    ec2.associate_route_table(RouteTableId=table, SubnetId=inspection)
    found.update({"inspection_subnet": inspection, "firewall_eni": firewall})
    return found


def _edges(
    session: boto3.Session, spec: EstateSpec, vpc_id: str, public: list[str], private: list[str]
) -> dict[str, str]:
    """An internet-facing ALB, an internal NLB behind an endpoint service, an STS endpoint."""
    elbv2 = session.client("elbv2")
    ec2 = session.client("ec2")
    alb = elbv2.create_load_balancer(
        Name=f"{spec.cluster}-web"[:32], Subnets=public[:2], Scheme="internet-facing",
        Type="application",
    )["LoadBalancers"][0]["LoadBalancerArn"]  # fmt: skip
    nlb = elbv2.create_load_balancer(
        Name=f"{spec.cluster}-api"[:32], Subnets=private[:2], Scheme="internal", Type="network"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    service = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb], AcceptanceRequired=True
    )["ServiceConfiguration"]["ServiceId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc_id, VpcEndpointType="Interface", SubnetIds=private[:2],
        ServiceName=f"com.amazonaws.{spec.region}.sts",
    )["VpcEndpoint"]["VpcEndpointId"]  # fmt: skip
    return {"alb": alb, "nlb": nlb, "endpoint_service": service, "vpc_endpoint": endpoint}


def _cluster(session: boto3.Session, spec: EstateSpec, private: list[str], node_sg: str) -> None:
    eks = session.client("eks")
    role = f"arn:aws:iam::{spec.account_id}:role/eks-cluster"
    eks.create_cluster(
        name=spec.cluster,
        version=spec.kubernetes_version,
        roleArn=role,
        resourcesVpcConfig={
            "subnetIds": private[:6],
            "endpointPublicAccess": spec.endpoint_public_access,
            "endpointPrivateAccess": not spec.endpoint_public_access,
            **(
                {"publicAccessCidrs": list(spec.public_access_cidrs)}
                if spec.endpoint_public_access
                else {}
            ),
        },
        kubernetesNetworkConfig={"ipFamily": "ipv4", "serviceIpv4Cidr": "172.20.0.0/16"},
        accessConfig={"authenticationMode": spec.authentication_mode},
        tags={
            **spec.cluster_tags,
            **({} if spec.cni_addon else {"v6migrate.local/aws-node-version": spec.cni_version}),
        },
    )
    if spec.cni_addon:
        eks.create_addon(
            clusterName=spec.cluster,
            addonName="vpc-cni",
            addonVersion=spec.cni_version,
            configurationValues=json.dumps(spec.cni_configuration),
        )
    ec2 = session.client("ec2")
    autoscaling = session.client("autoscaling")
    node_role = f"arn:aws:iam::{spec.account_id}:role/eks-node"
    for index, group in enumerate(spec.nodegroups):
        subnets = [private[(index + k) % len(private)] for k in range(min(3, len(private)))]
        template = None
        if group.launch_template or group.kind == "self-managed":
            data: Any = {"InstanceType": "m6g.large", "SecurityGroupIds": [node_sg]}
            if group.custom_ami or group.kind == "self-managed":
                data["ImageId"] = "ami-0eks0node0image0sim"
            template = ec2.create_launch_template(
                LaunchTemplateName=f"{spec.cluster}-{group.name}", LaunchTemplateData=data
            )["LaunchTemplate"]["LaunchTemplateId"]
            for number in range(2, group.template_versions + 1):
                script = f"#!/bin/bash\necho bootstrap revision {number}\n"
                ec2.create_launch_template_version(
                    LaunchTemplateId=template, SourceVersion=str(number - 1),
                    VersionDescription=f"revision {number}",
                    LaunchTemplateData={"UserData": base64.b64encode(script.encode()).decode()},
                )  # fmt: skip
            in_use = str(group.template_version or group.template_versions)
        if group.kind == "self-managed":
            assert template is not None
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=f"{spec.cluster}-{group.name}",
                LaunchTemplate={"LaunchTemplateId": template, "Version": in_use},
                MinSize=0,
                MaxSize=max(group.nodes, 1) * 2,
                DesiredCapacity=group.nodes,
                VPCZoneIdentifier=",".join(subnets),
                Tags=[
                    {
                        "Key": f"kubernetes.io/cluster/{spec.cluster}",
                        "Value": "owned",
                        "PropagateAtLaunch": True,
                    }
                ],
            )
            if group.termination_hook:
                autoscaling.put_lifecycle_hook(
                    LifecycleHookName="node-termination-handler",
                    AutoScalingGroupName=f"{spec.cluster}-{group.name}",
                    LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
                    HeartbeatTimeout=300,
                    DefaultResult="CONTINUE",
                )
            continue
        kwargs: dict[str, Any] = {
            "clusterName": spec.cluster,
            "nodegroupName": group.name,
            "nodeRole": node_role,
            "subnets": subnets,
            "scalingConfig": {
                "minSize": 0,
                "maxSize": max(group.nodes, 1) * 2,
                "desiredSize": group.nodes,
            },
        }
        if template:
            kwargs["launchTemplate"] = {"id": template, "version": in_use}
        else:
            kwargs["instanceTypes"] = ["m6g.large"]
        if group.release_version:
            kwargs["releaseVersion"] = group.release_version
        eks.create_nodegroup(**kwargs)
