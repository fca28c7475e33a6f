"""Discovery: the `Inventory` around one cluster, read from the AWS APIs.

Every EC2 read is filtered by the VPC (or by tags) and paginated, so the number of calls grows
with pages, not with resources (DOMAIN.md, throttling: unfiltered describes share the small
bucket). EKS has no batch read for node groups: one DescribeNodegroup per group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

from botocore.exceptions import ClientError

from v6migrate.aws import Clients, target_clients
from v6migrate.errors import ClusterNotFound, InputError, V6MigrateError, translate
from v6migrate.models import (
    CloudWanAttachment,
    Cluster,
    Cni,
    EndpointService,
    Inventory,
    Ipv6Block,
    LoadBalancer,
    NaclEntry,
    NetworkAcl,
    Node,
    Nodegroup,
    Peering,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    TgwAttachment,
    Vpc,
    VpcEndpoint,
)

NAT64_PREFIX = "64:ff9b::/96"
CNI_ADDON = "vpc-cni"


def pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    paginator = client.get_paginator(operation)
    try:
        for page in paginator.paginate(**kwargs):
            yield from page.get(key, [])
    except ClientError as error:
        raise translate(error, operation) from error


def _vpc_filter(vpc_id: str, name: str = "vpc-id") -> list[dict[str, Any]]:
    return [{"Name": name, "Values": [vpc_id]}]


def _name(tags: list[dict[str, str]] | None) -> str | None:
    return next((t["Value"] for t in tags or [] if t["Key"] == "Name"), None)


def _state(raw: Any) -> str:
    """An association state: {'State': 'associated'} on AWS; tolerate the bare string too."""
    if isinstance(raw, dict):
        return str(raw.get("State") or raw.get("state") or "")
    return str(raw or "")


# --------------------------------------------------------------------------- cluster


def read_cluster(clients: Clients, name: str) -> Cluster:
    try:
        raw = clients.eks.describe_cluster(name=name)["cluster"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise ClusterNotFound(
                f"no EKS cluster named {name!r} in account {clients.account_id}, "
                f"Region {clients.region}"
            ) from error
        raise translate(error, "eks:DescribeCluster") from error
    vpc_config = raw.get("resourcesVpcConfig", {})
    if not vpc_config.get("vpcId"):
        raise InputError(f"cluster {name} reports no VPC")
    network = raw.get("kubernetesNetworkConfig", {})
    return Cluster(
        name=raw["name"],
        arn=raw["arn"],
        status=raw.get("status", "UNKNOWN"),
        version=raw.get("version", ""),
        ip_family="ipv6" if network.get("ipFamily") == "ipv6" else "ipv4",
        vpc_id=vpc_config["vpcId"],
        cluster_security_group_id=vpc_config.get("clusterSecurityGroupId"),
        subnet_ids=tuple(vpc_config.get("subnetIds", [])),
        authentication_mode=(raw.get("accessConfig") or {}).get("authenticationMode")
        or "CONFIG_MAP",
        endpoint_public_access=vpc_config.get("endpointPublicAccess", True),
        public_access_cidrs=tuple(vpc_config.get("publicAccessCidrs") or ("0.0.0.0/0",)),
    )


def read_cni(clients: Clients, cluster: str) -> Cni:
    try:
        addon = clients.eks.describe_addon(clusterName=cluster, addonName=CNI_ADDON)["addon"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return Cni(managed=False)
        raise translate(error, "eks:DescribeAddon") from error
    return Cni(
        managed=True,
        version=addon.get("addonVersion"),
        configuration_values=addon.get("configurationValues", "") or "",
    )


# --------------------------------------------------------------------------- network


def read_vpc(clients: Clients, vpc_id: str) -> Vpc:
    try:
        raw = clients.ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
    except ClientError as error:
        raise translate(error, "ec2:DescribeVpcs") from error
    blocks = tuple(
        Ipv6Block(
            association_id=a["AssociationId"],
            cidr=a.get("Ipv6CidrBlock") or None,
            state=_state(a.get("Ipv6CidrBlockState")),
        )
        for a in raw.get("Ipv6CidrBlockAssociationSet", [])
        # Disassociated blocks linger ~30 min in describe output (DOMAIN.md, EC2 step 1).
        if _state(a.get("Ipv6CidrBlockState")) in ("associating", "associated")
    )
    return Vpc(
        vpc_id=vpc_id,
        owner_id=raw["OwnerId"],
        cidr_block=raw["CidrBlock"],
        ipv6_blocks=blocks,
    )


def _subnet(raw: dict[str, Any]) -> Subnet:
    live = [
        a
        for a in raw.get("Ipv6CidrBlockAssociationSet", [])
        if _state(a.get("Ipv6CidrBlockState")) in ("associating", "associated")
    ]
    return Subnet(
        subnet_id=raw["SubnetId"],
        availability_zone=raw["AvailabilityZone"],
        cidr_block=raw["CidrBlock"],
        ipv6_cidr=live[0]["Ipv6CidrBlock"] if live else None,
        ipv6_state=_state(live[0].get("Ipv6CidrBlockState")) if live else None,
        assign_ipv6_on_creation=bool(raw.get("AssignIpv6AddressOnCreation")),
        dns64=bool(raw.get("EnableDns64")),
        name=_name(raw.get("Tags")),
    )


_ROUTE_TARGETS = (
    "GatewayId",
    "EgressOnlyInternetGatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "NetworkInterfaceId",
    "InstanceId",
    "CoreNetworkArn",
    "VpcEndpointId",
)


def _route(raw: dict[str, Any]) -> Route | None:
    destination = (
        raw.get("DestinationCidrBlock")
        or raw.get("DestinationIpv6CidrBlock")
        or raw.get("DestinationPrefixListId")
    )
    target = next((raw[k] for k in _ROUTE_TARGETS if raw.get(k)), None)
    if destination is None or target is None:
        return None
    return Route(
        destination=destination,
        target=target,
        origin=raw.get("Origin", "CreateRoute"),
        state="blackhole" if raw.get("State") == "blackhole" else "active",
    )


def _route_table(raw: dict[str, Any]) -> RouteTable:
    associations = raw.get("Associations", [])
    return RouteTable(
        route_table_id=raw["RouteTableId"],
        main=any(a.get("Main") for a in associations),
        subnet_ids=tuple(a["SubnetId"] for a in associations if a.get("SubnetId")),
        routes=tuple(r for r in (_route(x) for x in raw.get("Routes", [])) if r is not None),
    )


def _rules(permissions: list[dict[str, Any]], egress: bool) -> tuple[SgRule, ...]:
    rules: list[SgRule] = []
    for permission in permissions:
        protocol = str(permission.get("IpProtocol", "-1"))
        every_port = protocol == "-1"
        for ranges, key, field in (
            ("IpRanges", "CidrIp", "cidr_ipv4"),
            ("Ipv6Ranges", "CidrIpv6", "cidr_ipv6"),
        ):
            rules.extend(
                SgRule.model_validate(
                    {
                        "egress": egress,
                        "protocol": protocol,
                        "from_port": None if every_port else permission.get("FromPort"),
                        "to_port": None if every_port else permission.get("ToPort"),
                        field: cidr[key],
                    }
                )
                for cidr in permission.get(ranges, [])
            )
    return tuple(rules)


def _security_group(raw: dict[str, Any], cluster: Cluster) -> SecurityGroup:
    tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
    role: Literal["cluster", "node", "other"] = "other"
    if raw["GroupId"] == cluster.cluster_security_group_id:
        role = "cluster"
    elif f"kubernetes.io/cluster/{cluster.name}" in tags:
        role = "node"
    return SecurityGroup(
        group_id=raw["GroupId"],
        name=raw.get("GroupName", ""),
        role=role,
        rules=_rules(raw.get("IpPermissionsEgress", []), True)
        + _rules(raw.get("IpPermissions", []), False),
    )


def _nacl(raw: dict[str, Any]) -> NetworkAcl:
    entries = []
    for entry in raw.get("Entries", []):
        ports = entry.get("PortRange") or {}
        icmp = entry.get("IcmpTypeCode") or {}
        entries.append(
            NaclEntry(
                rule_number=int(entry["RuleNumber"]),
                egress=bool(entry["Egress"]),
                protocol=str(entry.get("Protocol", "-1")),
                action=entry.get("RuleAction", "deny"),
                cidr_ipv4=entry.get("CidrBlock"),
                cidr_ipv6=entry.get("Ipv6CidrBlock"),
                port_from=ports.get("From"),
                port_to=ports.get("To"),
                icmp_type=icmp.get("Type"),
                icmp_code=icmp.get("Code"),
            )
        )
    return NetworkAcl(
        network_acl_id=raw["NetworkAclId"],
        is_default=bool(raw.get("IsDefault")),
        subnet_ids=tuple(a["SubnetId"] for a in raw.get("Associations", [])),
        entries=tuple(entries),
    )


def _peerings(clients: Clients, vpc_id: str) -> tuple[Peering, ...]:
    found: dict[str, Peering] = {}
    for side, other in (("requester", "AccepterVpcInfo"), ("accepter", "RequesterVpcInfo")):
        for raw in pages(
            clients.ec2,
            "describe_vpc_peering_connections",
            "VpcPeeringConnections",
            Filters=_vpc_filter(vpc_id, f"{side}-vpc-info.vpc-id"),
        ):
            peer = raw.get(other, {})
            found[raw["VpcPeeringConnectionId"]] = Peering(
                peering_id=raw["VpcPeeringConnectionId"],
                status=raw.get("Status", {}).get("Code", "unknown"),
                peer_vpc_id=peer.get("VpcId", ""),
                peer_owner_id=peer.get("OwnerId", ""),
                peer_region=peer.get("Region", clients.region),
                peer_cidr_block=peer.get("CidrBlock", ""),
                peer_ipv6_cidrs=tuple(b["Ipv6CidrBlock"] for b in peer.get("Ipv6CidrBlockSet", [])),
            )
    return tuple(found[k] for k in sorted(found))


def _egress_only_gateway(clients: Clients, vpc_id: str) -> str | None:
    # DescribeEgressOnlyInternetGateways filters by tag only: match the attachment here.
    for raw in pages(
        clients.ec2, "describe_egress_only_internet_gateways", "EgressOnlyInternetGateways"
    ):
        if any(a.get("VpcId") == vpc_id for a in raw.get("Attachments", [])):
            return str(raw["EgressOnlyInternetGatewayId"])
    return None


def _cloudwan(clients: Clients, vpc: Vpc, region: str) -> tuple[CloudWanAttachment, ...]:
    vpc_arn = f"arn:aws:ec2:{region}:{vpc.owner_id}:vpc/{vpc.vpc_id}"
    found = []
    for raw in pages(
        clients.networkmanager,
        "list_attachments",
        "Attachments",
        AttachmentType="VPC",
        EdgeLocation=region,  # the VPC's Region: fewer pages of other Regions' attachments
    ):
        if raw.get("ResourceArn") != vpc_arn:
            continue
        try:
            detail = clients.networkmanager.get_vpc_attachment(AttachmentId=raw["AttachmentId"])
        except ClientError as error:
            raise translate(error, "networkmanager:GetVpcAttachment") from error
        options = detail["VpcAttachment"].get("Options", {})
        found.append(
            CloudWanAttachment(
                attachment_id=raw["AttachmentId"],
                core_network_id=raw.get("CoreNetworkId", ""),
                state=raw.get("State", ""),
                ipv6_support=bool(options.get("Ipv6Support")),
            )
        )
    return tuple(sorted(found, key=lambda a: a.attachment_id))


# --------------------------------------------------------------------------- nodes


def _drains_on_termination(clients: Clients, group: str) -> bool:
    """Whether the Auto Scaling group holds terminating instances for a handler to drain."""
    try:
        hooks = clients.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)
    except ClientError as error:
        raise translate(error, "autoscaling:DescribeLifecycleHooks") from error
    return any(
        h.get("LifecycleTransition") == "autoscaling:EC2_INSTANCE_TERMINATING"
        for h in hooks.get("LifecycleHooks", [])
    )


def _nodegroups(clients: Clients, cluster: str) -> list[Nodegroup]:
    groups: list[Nodegroup] = []
    for name in pages(clients.eks, "list_nodegroups", "nodegroups", clusterName=cluster):
        try:
            described = clients.eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)
        except ClientError as error:
            raise translate(error, "eks:DescribeNodegroup") from error
        group: dict[str, Any] = dict(described["nodegroup"])
        template = group.get("launchTemplate") or {}
        groups.append(
            Nodegroup(
                name=name,
                kind="managed",
                launch_template_id=template.get("id"),
                launch_template_version=template.get("version"),
                autoscaling_groups=tuple(
                    a["name"] for a in group.get("resources", {}).get("autoScalingGroups", [])
                ),
                subnet_ids=tuple(group.get("subnets", [])),
                status=group.get("status", "ACTIVE"),
            )
        )
    managed_asgs = {asg for g in groups for asg in g.autoscaling_groups}
    for asg in pages(
        clients.autoscaling,
        "describe_auto_scaling_groups",
        "AutoScalingGroups",
        Filters=[{"Name": "tag-key", "Values": [f"kubernetes.io/cluster/{cluster}"]}],
    ):
        name = asg["AutoScalingGroupName"]
        tags = {t["Key"] for t in asg.get("Tags", [])}
        if name in managed_asgs or "eks:nodegroup-name" in tags:
            continue
        template = asg.get("LaunchTemplate") or {}
        groups.append(
            Nodegroup(
                name=name,
                kind="self-managed",
                launch_template_id=template.get("LaunchTemplateId"),
                launch_template_version=template.get("Version"),
                autoscaling_groups=(name,),
                subnet_ids=tuple(s for s in str(asg.get("VPCZoneIdentifier", "")).split(",") if s),
                termination_hook=_drains_on_termination(clients, name),
            )
        )
    return sorted(groups, key=lambda g: g.name)


def primary_interface(instance: Any) -> dict[str, Any]:
    """An instance's primary network interface (device index 0), as DescribeInstances has it."""
    for eni in instance.get("NetworkInterfaces", []):
        if eni.get("Attachment", {}).get("DeviceIndex", 0) == 0:
            return dict(eni)
    return {}


def node_group_of(tags: dict[str, str], cluster: str, asg_to_group: dict[str, str]) -> str | None:
    """The node group an instance belongs to in `cluster`: "" for a node of the cluster outside
    any known group, None for an instance that is not the cluster's node at all.

    EKS tags a managed node group's instances `eks:cluster-name` and `eks:nodegroup-name`;
    self-managed groups and Karpenter tag theirs `kubernetes.io/cluster/<cluster>` (Karpenter
    also `eks:eks-cluster-name`). Another cluster in the same VPC carries its own name there,
    so an `eks:nodegroup-name` alone says nothing about which cluster the node is in."""
    group = asg_to_group.get(tags.get("aws:autoscaling:groupName", ""))
    if group:
        return group
    if tags.get("eks:cluster-name") == cluster and tags.get("eks:nodegroup-name"):
        return tags["eks:nodegroup-name"]
    of_cluster = (
        tags.get("eks:cluster-name") == cluster
        or tags.get("eks:eks-cluster-name") == cluster
        or f"kubernetes.io/cluster/{cluster}" in tags
    )
    return "" if of_cluster else None


def _nodes(
    clients: Clients, vpc_id: str, cluster: str, groups: list[Nodegroup]
) -> tuple[Node, ...]:
    asg_to_group = {asg: g.name for g in groups for asg in g.autoscaling_groups}
    nodes = []
    for reservation in pages(
        clients.ec2,
        "describe_instances",
        "Reservations",
        Filters=[
            *_vpc_filter(vpc_id),
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ],
    ):
        for instance in reservation.get("Instances", []):
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            group = node_group_of(tags, cluster, asg_to_group)
            if group is None:
                continue
            primary = primary_interface(instance)
            nodes.append(
                Node(
                    instance_id=instance["InstanceId"],
                    subnet_id=instance.get("SubnetId", ""),
                    nodegroup=group or None,
                    ipv6_addresses=tuple(
                        a["Ipv6Address"] for a in primary.get("Ipv6Addresses", [])
                    ),
                )
            )
    return tuple(sorted(nodes, key=lambda n: n.instance_id))


# --------------------------------------------------------------------------- all of it


def _edges(
    clients: Clients, vpc_id: str
) -> tuple[tuple[LoadBalancer, ...], tuple[VpcEndpoint, ...], tuple[EndpointService, ...]]:
    """Load balancers, interface endpoints, and the endpoint services this VPC provides."""
    balancers = tuple(
        LoadBalancer(
            arn=b["LoadBalancerArn"],
            name=b["LoadBalancerName"],
            kind=b.get("Type", "application"),
            scheme=b.get("Scheme", "internet-facing"),
            ip_address_type=b.get("IpAddressType", "ipv4"),
        )
        # DescribeLoadBalancers has no VPC filter: one page holds up to 400 of them.
        for b in pages(clients.elbv2, "describe_load_balancers", "LoadBalancers")
        if b.get("VpcId") == vpc_id
    )
    endpoints = tuple(
        VpcEndpoint(
            endpoint_id=e["VpcEndpointId"],
            service_name=e["ServiceName"],
            ip_address_type=e.get("IpAddressType", "ipv4"),
        )
        for e in pages(
            clients.ec2,
            "describe_vpc_endpoints",
            "VpcEndpoints",
            Filters=[*_vpc_filter(vpc_id), {"Name": "vpc-endpoint-type", "Values": ["Interface"]}],
        )
    )
    ours = {b.arn for b in balancers}
    services = tuple(
        EndpointService(
            service_id=c["ServiceId"],
            supported_ip_address_types=tuple(c.get("SupportedIpAddressTypes", ["ipv4"])),
            network_load_balancer_arns=tuple(c.get("NetworkLoadBalancerArns", [])),
        )
        for c in pages(
            clients.ec2,
            "describe_vpc_endpoint_service_configurations",
            "ServiceConfigurations",
        )
        if ours & set(c.get("NetworkLoadBalancerArns", []))
    )
    return balancers, endpoints, services


def _peer_side(
    clients: Clients, peering: Peering, connect: Callable[[str, str], Clients]
) -> Peering:
    """The peer VPC's route tables that route to the peering, read in the peer's account."""
    if peering.status != "active":
        return peering
    same = (peering.peer_owner_id, peering.peer_region) == (clients.account_id, clients.region)
    try:
        peer = clients if same else connect(peering.peer_owner_id, peering.peer_region)
        tables = tuple(
            _route_table(t)
            for t in pages(
                peer.ec2,
                "describe_route_tables",
                "RouteTables",
                Filters=[
                    {"Name": "vpc-id", "Values": [peering.peer_vpc_id]},
                    {"Name": "route.vpc-peering-connection-id", "Values": [peering.peering_id]},
                ],
            )
        )
    except V6MigrateError:
        return peering.model_copy(update={"peer_readable": False})
    ordered = tuple(sorted(tables, key=lambda t: t.route_table_id))
    return peering.model_copy(update={"peer_route_tables": ordered})


def discover(
    clients: Clients,
    cluster_name: str,
    connect: Callable[[str, str], Clients] = target_clients,
) -> Inventory:
    """The estate around `cluster_name`; `connect` reaches peers in other accounts."""
    cluster = read_cluster(clients, cluster_name)
    vpc = read_vpc(clients, cluster.vpc_id)
    vpc_id = vpc.vpc_id
    ec2 = clients.ec2
    subnets = tuple(
        _subnet(s) for s in pages(ec2, "describe_subnets", "Subnets", Filters=_vpc_filter(vpc_id))
    )
    tables = tuple(
        _route_table(t)
        for t in pages(ec2, "describe_route_tables", "RouteTables", Filters=_vpc_filter(vpc_id))
    )
    groups = tuple(
        _security_group(g, cluster)
        for g in pages(
            ec2, "describe_security_groups", "SecurityGroups", Filters=_vpc_filter(vpc_id)
        )
    )
    acls = tuple(
        _nacl(a)
        for a in pages(ec2, "describe_network_acls", "NetworkAcls", Filters=_vpc_filter(vpc_id))
    )
    igws = list(
        pages(
            ec2,
            "describe_internet_gateways",
            "InternetGateways",
            Filters=_vpc_filter(vpc_id, "attachment.vpc-id"),
        )
    )
    tgw = tuple(
        TgwAttachment(
            attachment_id=a["TransitGatewayAttachmentId"],
            transit_gateway_id=a["TransitGatewayId"],
            state=a.get("State", ""),
            ipv6_support=(a.get("Options", {}).get("Ipv6Support") == "enable"),
            subnet_ids=tuple(a.get("SubnetIds", [])),
        )
        for a in pages(
            ec2,
            "describe_transit_gateway_vpc_attachments",
            "TransitGatewayVpcAttachments",
            Filters=_vpc_filter(vpc_id),
        )
        if a.get("State") not in ("deleted", "deleting", "failed", "rejected")
    )
    nodegroups = _nodegroups(clients, cluster.name)
    balancers, endpoints, services = _edges(clients, vpc_id)
    return Inventory(
        account_id=clients.account_id,
        region=clients.region,
        cluster=cluster,
        vpc=vpc,
        subnets=tuple(sorted(subnets, key=lambda s: s.subnet_id)),
        route_tables=tuple(sorted(tables, key=lambda t: t.route_table_id)),
        security_groups=tuple(sorted(groups, key=lambda g: g.group_id)),
        network_acls=tuple(sorted(acls, key=lambda a: a.network_acl_id)),
        internet_gateway_id=igws[0]["InternetGatewayId"] if igws else None,
        egress_only_gateway_id=_egress_only_gateway(clients, vpc_id),
        nat64_route_tables=tuple(
            t.route_table_id
            for t in tables
            if any(r.destination == NAT64_PREFIX and r.target.startswith("nat-") for r in t.routes)
        ),
        tgw_attachments=tgw,
        peerings=tuple(_peer_side(clients, p, connect) for p in _peerings(clients, vpc_id)),
        cloudwan_attachments=_cloudwan(clients, vpc, clients.region),
        load_balancers=tuple(sorted(balancers, key=lambda b: b.arn)),
        vpc_endpoints=tuple(sorted(endpoints, key=lambda e: e.endpoint_id)),
        endpoint_services=tuple(sorted(services, key=lambda s: s.service_id)),
        nodegroups=tuple(nodegroups),
        nodes=_nodes(clients, vpc_id, cluster.name, nodegroups),
        fargate_profiles=tuple(
            sorted(
                pages(
                    clients.eks,
                    "list_fargate_profiles",
                    "fargateProfileNames",
                    clusterName=cluster.name,
                )
            )
        ),
        cni=read_cni(clients, cluster.name),
    )
