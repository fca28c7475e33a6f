"""Contracts: the request, the inventory read from AWS, the plan and its changes.

Every model is frozen and refuses unknown fields: a typo in a request is an error, never a
silently ignored option. No I/O here.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="12-digit AWS account id")]
Region = Annotated[
    str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$", description="AWS Region, e.g. eu-west-1")
]
ClusterName = Annotated[
    str,
    Field(pattern=r"^[0-9A-Za-z][A-Za-z0-9\-_]*$", min_length=1, max_length=100),
]
ExecutionName = Annotated[str, Field(pattern=r"^[0-9A-Za-z\-_]{1,80}$")]
Stage = Literal["vpc", "attachments", "cni", "nodes"]
LONG_STAGES: tuple[Stage, ...] = ("cni", "nodes")  # start-then-poll in the state machine
STAGES: tuple[Stage, ...] = ("vpc", "attachments", "cni", "nodes")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- request


class Ipv6Source(Frozen):
    """Where the VPC's IPv6 block comes from: Amazon's pool (a /56) or an IPAM pool."""

    ipam_pool_id: Annotated[str | None, Field(pattern=r"^ipam-pool-[0-9a-f]+$")] = None
    netmask_length: Annotated[int | None, Field(ge=44, le=60, multiple_of=4)] = None

    @model_validator(mode="after")
    def _pool_and_length_together(self) -> Ipv6Source:
        if (self.ipam_pool_id is None) != (self.netmask_length is None):
            raise ValueError("ipam_pool_id and netmask_length go together: give both or neither")
        return self

    @property
    def prefix_length(self) -> int:
        """Prefix length of the VPC block this source gives (Amazon-provided blocks are /56)."""
        return self.netmask_length if self.netmask_length is not None else 56


class PlanOptions(Frozen):
    ipv6_source: Ipv6Source = Ipv6Source()
    mirror_public_ingress: bool = Field(
        default=False,
        description="Add a ::/0 twin for every ingress rule open to 0.0.0.0/0. Off by default: "
        "opening IPv6 ingress is a security decision the operator takes explicitly.",
    )
    nodegroup_without_launch_template: Literal["replacement", "manual"] = Field(
        default="replacement",
        description="Managed node groups without a launch template cannot be rolled in place: "
        "create a replacement group and drain the old one, or leave it to the operator.",
    )
    dualstack_load_balancers: bool = Field(
        default=False,
        description="Switch the VPC's load balancers to dualstack (internet-facing ones then "
        "answer on IPv6 too).",
    )
    dualstack_endpoints: bool = Field(
        default=False,
        description="Let the VPC's endpoint services accept IPv6 and make its interface "
        "endpoints dualstack.",
    )
    appliance_tables_to_egress_only_gateway: bool = Field(
        default=False,
        description="Route tables whose 0.0.0.0/0 goes through a Transit Gateway, a NAT "
        "instance or firewall interface, or a Gateway Load Balancer endpoint get no ::/0 unless "
        "this is set: then ::/0 goes to the VPC's egress-only gateway, so IPv6 leaves without "
        "that inspection or central egress.",
    )
    refresh_without_drain: bool = Field(
        default=False,
        description="Let instance refreshes replace self-managed nodes whose group has no "
        "termination lifecycle hook: Auto Scaling then terminates them without draining their "
        "pods (Auto Scaling user guide, instance refresh).",
    )
    nodes_outside_groups: Literal["block", "validate", "exclude"] = Field(
        default="block",
        description="Nodes of the cluster that no node group owns (Karpenter, launched by "
        "hand) are never cycled by the run. block: preflight stops until they are handled; "
        "validate: go on, the operator replaces them during the run and validation holds them "
        "to it; exclude: go on, validation leaves them out and says so.",
    )
    node_concurrency: int = Field(
        default=4,
        ge=1,
        le=50,
        description="How many node groups roll at the same time.",
    )
    min_healthy_percentage: int = Field(
        default=90,
        ge=0,
        le=100,
        description="Instance refreshes of self-managed groups keep at least this share of "
        "their instances in service.",
    )
    resolve_conflicts: Literal["PRESERVE", "OVERWRITE", "NONE"] = Field(
        default="PRESERVE",
        description="How the vpc-cni add-on update treats fields changed outside EKS: PRESERVE "
        "keeps them (the safe default), OVERWRITE resets them to the add-on's defaults.",
    )
    probe_image: str = Field(
        default="public.ecr.aws/docker/library/busybox:stable",
        description="Image of the validation's probe pods: needs `ip` and `wget`.",
    )
    probe_url: str = Field(
        default="https://api6.ipify.org",
        pattern=r"^https?://",
        description="An IPv6-only URL that answers with the caller's address: the probe's "
        "egress check expects its node's IPv6 address back.",
    )
    tgw_ipv6_destinations: tuple[str, ...] = Field(
        default=(),
        description="IPv6 ranges reached through the Transit Gateway, routed from every route "
        "table that routes IPv4 to it.",
    )

    @field_validator("tgw_ipv6_destinations")
    @classmethod
    def _ipv6_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            if ipaddress.ip_network(cidr, strict=True).version != 6:
                raise ValueError(f"{cidr} is not an IPv6 network")
        return value


# An IAM principal: a role, a user, or an STS assumed-role session (arn:<partition>:...)
PrincipalArn = Annotated[
    str,
    StringConstraints(
        pattern=r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)/[\w+=,.@/-]+$",
        max_length=2048,
    ),
]


# A role whose sessions an identity source names, one person a session (`people_by_session`):
# its account (or `*`) and its name, `*` matching any characters (Identity Center's permission
# set roles end in a suffix of its own: `AWSReservedSSO_<set>_<suffix>`)
SessionRole = Annotated[
    str,
    StringConstraints(
        pattern=r"^arn:aws[a-z-]*:iam::(\d{12}|\*):role/([\w+=,.@-]+/)*[\w+=,.@*-]+$",
        max_length=512,
    ),
]


# A person in a chat workspace who may approve from it: `slack:<team id>/<user id>` (Slack's
# ids: a team T..., a user U... or W...), as the signed callback names them
ChatUser = Annotated[str, StringConstraints(pattern=r"^slack:T[A-Z0-9]{2,20}/[UW][A-Z0-9]{2,20}$")]
# A person signed in through Entra ID (the Teams confirmation page): `entra:<tenant id>/<object
# id>`, Entra's `tid` and `oid` claims (stable, unlike a name or an email address)
UUID_TEXT = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
EntraUser = Annotated[str, StringConstraints(pattern=rf"^entra:{UUID_TEXT}/{UUID_TEXT}$")]


class ApprovalPolicy(Frozen):
    """Who must approve an apply run's plan before its first change (issue 11)."""

    mode: Literal["required", "none"] = Field(
        default="required",
        description="`none` changes the network straight after preflight: only where the "
        "request (or its wave) says so.",
    )
    approvers: tuple[PrincipalArn | ChatUser | EntraUser, ...] = Field(
        default=(),
        max_length=20,
        description="Who may decide: IAM role or user ARNs (a role stands for every session of "
        "it), chat users (`slack:<team>/<user>`, deciding from a signed Slack button), or people "
        "signed in through Entra ID (`entra:<tenant id>/<object id>`, deciding on the Teams "
        "confirmation page). An "
        "apply run with `mode: required` and nobody here is blocked at preflight.",
    )
    required: int = Field(default=1, ge=1, le=3, description="Distinct approvers needed.")
    people: tuple[tuple[PrincipalArn | ChatUser | EntraUser, ...], ...] = Field(
        default=(),
        max_length=50,
        description="Identities that are one person (an IAM session and a Slack id, say): they "
        "count as one approver, and as the requester if one of them asked for the run. Without "
        "this, two identities are two people.",
    )
    allow_self_approval: bool = Field(
        default=False, description="Whether the requester, if known, may approve."
    )
    requested_by: PrincipalArn | None = Field(
        default=None,
        description="Who asked for the run, as the caller that started it proved it (the CLI "
        "and the API set it; a console start leaves it unknown).",
    )
    timeout_seconds: int = Field(
        default=86_400, ge=1, le=7 * 86_400, description="No decision by then: the run ends."
    )
    break_glass: bool = Field(
        default=False,
        description="Set by the platform's policy, never by a request: the run goes without "
        "approval, or with its requester's own, only because its requester is a break-glass "
        "principal; it is announced.",
    )
    people_by_session: tuple[SessionRole, ...] = Field(
        default=(),
        max_length=20,
        description="Set from the platform's policy, never by a request: roles whose every "
        "session is a person of its own (an identity source names the session).",
    )
    preapproved_plan_hash: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="Set by a wave for the runs it starts: the hash of this cluster's plan as "
        "the wave's approvers approved it. The run plans again before its first change and "
        "goes on without asking only if the plan is still that one; otherwise it asks these "
        "approvers.",
    )

    @model_validator(mode="after")
    def _people(self) -> ApprovalPolicy:
        seen: set[str] = set()
        for person in self.people:
            if len(set(person)) < 2:
                raise ValueError("each of `people` lists at least two identities of one person")
            if seen & set(person):
                raise ValueError(f"{sorted(seen & set(person))[0]} is in two people")
            seen |= set(person)
        return self

    def persons(self) -> int:
        """How many people the approvers are: a role (whatever its sessions) is one, and so
        are the identities `people` ties."""
        return persons(self.approvers, self.people, self.people_by_session)


def person(
    identity: str, people: tuple[tuple[str, ...], ...] = (), by_session: tuple[str, ...] = ()
) -> str:
    """Who `identity` counts as: the person `people` ties it to; for an IAM role, user or
    session, its principal (every session of a role is one approver: a role's sessions are
    named by whoever assumes it, DOMAIN.md), unless the role is one of `by_session` (an
    identity source names its sessions: each is a person); a chat user, themself."""
    principal = _principal_key(identity, by_session)
    for n, tied in enumerate(people):
        if identity in tied or principal in {_principal_key(i, by_session) for i in tied}:
            return f"person#{n}"
    return principal


def _principal_key(identity: str, by_session: tuple[str, ...] = ()) -> str:
    if not identity.startswith("arn:"):
        return identity
    parts = identity.split(":", 5)
    kind, _, rest = parts[5].partition("/")
    if kind == "assumed-role":
        role, _, session = rest.partition("/")
        if _named_by_source(parts[4], role, by_session):
            return f"iam:{parts[4]}:role:{role}:session:{session}"
        kind, rest = "role", role
    return f"iam:{parts[4]}:{kind}:{rest.rsplit('/', 1)[-1]}"


def _named_by_source(account: str, role: str, by_session: tuple[str, ...]) -> bool:
    """Whether `role` (of `account`) is one of `by_session`'s roles (`SessionRole`)."""
    for entry in by_session:
        parts = entry.split(":", 5)
        name = parts[5].rsplit("/", 1)[-1]
        if parts[4] in ("*", account) and fnmatch.fnmatchcase(role, name):
            return True
    return False


def persons(
    identities: tuple[str, ...], people: tuple[tuple[str, ...], ...] = (),
    by_session: tuple[str, ...] = (),
) -> int:  # fmt: skip
    """How many people `identities` are (`person`)."""
    return len({person(identity, people, by_session) for identity in identities})


class MigrationRequest(Frozen):
    """What starts a migration, from the console, the API, a wave or the CLI."""

    cluster: ClusterName
    region: Region
    account_id: AccountId | None = None
    mode: Literal["plan", "apply"] = "plan"
    wave_id: str | None = None
    options: PlanOptions = PlanOptions()
    release_vpc_cidr: bool = Field(
        default=False,
        description="On rollback, also release the VPC's IPv6 block. Irreversible: a "
        "re-associated Amazon-provided /56 is a different range.",
    )
    approval: ApprovalPolicy = ApprovalPolicy()
    recycle_nodes_on_rollback: bool = Field(
        default=False,
        description="On rollback, after the CNI flag is off, cycle the nodes of every group "
        "this run rolled once more (one group at a time), so no pod keeps a v6if0. Off by "
        "default: the rolled nodes are kept, and their IPv6 addresses are given back when the "
        "subnets' /64s are released.",
    )


# --------------------------------------------------------------------------- inventory


class Ipv6Block(Frozen):
    association_id: str
    cidr: str | None
    state: str


class Vpc(Frozen):
    vpc_id: str
    owner_id: str
    cidr_block: str
    ipv6_blocks: tuple[Ipv6Block, ...] = ()

    @property
    def ipv6_block(self) -> Ipv6Block | None:
        live = [b for b in self.ipv6_blocks if b.state in ("associating", "associated")]
        return live[0] if live else None


class Subnet(Frozen):
    subnet_id: str
    availability_zone: str
    cidr_block: str
    ipv6_cidr: str | None = None
    ipv6_state: str | None = None
    assign_ipv6_on_creation: bool = False
    dns64: bool = False
    name: str | None = None


class Route(Frozen):
    destination: str  # an IPv4 or IPv6 CIDR, or a prefix list id
    target: str  # igw-..., eigw-..., nat-..., tgw-..., pcx-..., local, ...
    origin: str = "CreateRoute"
    # `blackhole`: its target is gone (a deleted gateway, a detached one): traffic is dropped
    state: Literal["active", "blackhole"] = "active"


class RouteTable(Frozen):
    route_table_id: str
    main: bool = False
    subnet_ids: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()

    def has_route(self, destination: str) -> bool:
        return any(r.destination == destination for r in self.routes)

    def targets_prefix(self, prefix: str) -> tuple[str, ...]:
        return tuple(sorted({r.target for r in self.routes if r.target.startswith(prefix)}))


class SgRule(Frozen):
    egress: bool
    protocol: str
    from_port: int | None = None
    to_port: int | None = None
    cidr_ipv4: str | None = None
    cidr_ipv6: str | None = None


class SecurityGroup(Frozen):
    group_id: str
    name: str
    role: Literal["cluster", "node", "other"] = "other"
    rules: tuple[SgRule, ...] = ()


class NaclEntry(Frozen):
    rule_number: int
    egress: bool
    protocol: str
    action: Literal["allow", "deny"]
    cidr_ipv4: str | None = None
    cidr_ipv6: str | None = None
    port_from: int | None = None
    port_to: int | None = None
    icmp_type: int | None = None  # protocol 1 (ICMP) or 58 (ICMPv6); -1: every type
    icmp_code: int | None = None


class NetworkAcl(Frozen):
    network_acl_id: str
    is_default: bool
    subnet_ids: tuple[str, ...] = ()
    entries: tuple[NaclEntry, ...] = ()


class TgwAttachment(Frozen):
    attachment_id: str
    transit_gateway_id: str
    state: str
    ipv6_support: bool
    subnet_ids: tuple[str, ...] = ()


class Peering(Frozen):
    peering_id: str
    status: str
    peer_vpc_id: str
    peer_owner_id: str
    peer_region: str
    peer_cidr_block: str
    peer_ipv6_cidrs: tuple[str, ...] = ()
    peer_route_tables: tuple[RouteTable, ...] = Field(
        default=(), description="The peer VPC's route tables that route to this peering."
    )
    peer_readable: bool = Field(
        default=True, description="False when the peer's account could not be read."
    )


class CloudWanAttachment(Frozen):
    attachment_id: str
    core_network_id: str
    state: str
    ipv6_support: bool


class LoadBalancer(Frozen):
    arn: str
    name: str
    kind: str
    scheme: str
    ip_address_type: str


class VpcEndpoint(Frozen):
    endpoint_id: str
    service_name: str
    ip_address_type: str


class EndpointService(Frozen):
    service_id: str
    supported_ip_address_types: tuple[str, ...]
    network_load_balancer_arns: tuple[str, ...] = ()


class Node(Frozen):
    instance_id: str
    subnet_id: str
    nodegroup: str | None
    ipv6_addresses: tuple[str, ...] = ()


class Nodegroup(Frozen):
    name: str
    kind: Literal["managed", "self-managed"]
    launch_template_id: str | None = None
    launch_template_version: str | None = None
    autoscaling_groups: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    status: str = "ACTIVE"  # a managed group's DescribeNodegroup status
    # Self-managed: a lifecycle hook on autoscaling:EC2_INSTANCE_TERMINATING, through which a
    # termination handler drains each node before Auto Scaling terminates it.
    termination_hook: bool = False


class Cni(Frozen):
    """The VPC CNI as installed: the EKS add-on, or self-managed (version unknown from AWS)."""

    managed: bool
    version: str | None = None
    configuration_values: str = ""


class KubeFacts(Frozen):
    """What preflight learnt through the cluster's Kubernetes API: one authorised read of the
    aws-node DaemonSet, or why it could not make it."""

    reachable: bool
    error: str | None = None
    aws_node_image: str | None = None
    # container -> ENABLE_V6_EGRESS as the DaemonSet has it (None: not set)
    v6_egress: dict[str, str | None] = Field(default_factory=dict)

    @property
    def aws_node_version(self) -> str | None:
        """The CNI version from aws-node's image tag (`.../amazon-k8s-cni:v1.18.3-eksbuild.1`)."""
        if not self.aws_node_image or ":" not in self.aws_node_image.rsplit("/", 1)[-1]:
            return None
        return self.aws_node_image.rsplit(":", 1)[-1]


class Cluster(Frozen):
    name: str
    arn: str
    status: str
    version: str
    ip_family: Literal["ipv4", "ipv6"]
    vpc_id: str
    cluster_security_group_id: str | None = None
    subnet_ids: tuple[str, ...] = ()
    # DescribeCluster `accessConfig` (absent: CONFIG_MAP, the API's default) and endpoint access
    authentication_mode: Literal["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"] = "API_AND_CONFIG_MAP"
    endpoint_public_access: bool = True
    public_access_cidrs: tuple[str, ...] = ("0.0.0.0/0",)


class Inventory(Frozen):
    """The estate around one cluster, as read from AWS."""

    account_id: str
    region: str
    cluster: Cluster
    vpc: Vpc
    subnets: tuple[Subnet, ...] = ()
    route_tables: tuple[RouteTable, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    network_acls: tuple[NetworkAcl, ...] = ()
    internet_gateway_id: str | None = None
    egress_only_gateway_id: str | None = None
    nat64_route_tables: tuple[str, ...] = ()
    tgw_attachments: tuple[TgwAttachment, ...] = ()
    peerings: tuple[Peering, ...] = ()
    cloudwan_attachments: tuple[CloudWanAttachment, ...] = ()
    load_balancers: tuple[LoadBalancer, ...] = ()
    vpc_endpoints: tuple[VpcEndpoint, ...] = ()
    endpoint_services: tuple[EndpointService, ...] = ()
    nodegroups: tuple[Nodegroup, ...] = ()
    nodes: tuple[Node, ...] = ()
    fargate_profiles: tuple[str, ...] = ()
    cni: Cni
    kubernetes: KubeFacts | None = Field(
        default=None, description="Set by preflight once it has read the cluster's API."
    )

    @property
    def resource_count(self) -> int:
        """Resources the plan reasons about (the benchmark's denominator)."""
        return (
            len(self.subnets)
            + len(self.route_tables)
            + len(self.security_groups)
            + len(self.network_acls)
            + len(self.tgw_attachments)
            + len(self.peerings)
            + len(self.cloudwan_attachments)
            + len(self.nodegroups)
        )


# --------------------------------------------------------------------------- plan


class ChangeBase(Frozen):
    action: str
    stage: Stage
    target: str
    reversible: bool = True
    inverse: str

    @property
    def change_id(self) -> str:
        """Stable identity of the change: the journal's key, the same on every run."""
        return f"{self.stage}:{self.action}:{self.target}{self._id_suffix()}"

    def _id_suffix(self) -> str:
        return ""


class AssociateVpcIpv6Cidr(ChangeBase):
    action: Literal["associate-vpc-ipv6-cidr"] = "associate-vpc-ipv6-cidr"
    stage: Stage = "vpc"
    inverse: str = "disassociate-vpc-ipv6-cidr"
    reversible: bool = False  # a re-associated Amazon-provided /56 is a different range
    ipam_pool_id: str | None = None
    netmask_length: int = 56


class AssociateSubnetIpv6Cidr(ChangeBase):
    action: Literal["associate-subnet-ipv6-cidr"] = "associate-subnet-ipv6-cidr"
    stage: Stage = "vpc"
    inverse: str = "disassociate-subnet-ipv6-cidr"
    index: Annotated[int, Field(ge=0)]
    cidr: str | None = None  # known when the VPC block is; otherwise resolved from `index`


class EnableSubnetIpv6AutoAssign(ChangeBase):
    action: Literal["enable-subnet-ipv6-auto-assign"] = "enable-subnet-ipv6-auto-assign"
    stage: Stage = "vpc"
    inverse: str = "disable-subnet-ipv6-auto-assign"


class CreateEgressOnlyGateway(ChangeBase):
    action: Literal["create-egress-only-gateway"] = "create-egress-only-gateway"
    stage: Stage = "vpc"
    inverse: str = "delete-egress-only-gateway"


class AddIpv6Route(ChangeBase):
    action: Literal["add-ipv6-route"] = "add-ipv6-route"
    inverse: str = "delete-ipv6-route"
    destination: str
    via: Literal["internet-gateway", "egress-only-gateway", "transit-gateway", "peering"]
    gateway_id: str | None = None  # None: the egress-only gateway this run creates

    def _id_suffix(self) -> str:
        return f":{self.destination}"


class AddSecurityGroupIpv6Rule(ChangeBase):
    action: Literal["add-sg-ipv6-rule"] = "add-sg-ipv6-rule"
    stage: Stage = "vpc"
    inverse: str = "revoke-sg-ipv6-rule"
    egress: bool
    protocol: str
    from_port: int | None = None
    to_port: int | None = None
    cidr_ipv6: str = "::/0"

    def _id_suffix(self) -> str:
        direction = "egress" if self.egress else "ingress"
        return f":{direction}:{self.protocol}:{self.from_port}-{self.to_port}:{self.cidr_ipv6}"


class AddNaclIpv6Entry(ChangeBase):
    action: Literal["add-nacl-ipv6-entry"] = "add-nacl-ipv6-entry"
    stage: Stage = "vpc"
    inverse: str = "delete-nacl-entry"
    rule_number: int
    egress: bool
    protocol: str
    rule_action: Literal["allow", "deny"]
    cidr_ipv6: str = "::/0"
    port_from: int | None = None
    port_to: int | None = None
    icmp_type: int | None = None  # ICMPv6 (protocol 58) type and code
    icmp_code: int | None = None
    mirrors_rule: int

    def _id_suffix(self) -> str:
        return f":{'egress' if self.egress else 'ingress'}:{self.rule_number}"


class EnableTgwAttachmentIpv6(ChangeBase):
    action: Literal["enable-tgw-attachment-ipv6"] = "enable-tgw-attachment-ipv6"
    stage: Stage = "attachments"
    inverse: str = "disable-tgw-attachment-ipv6"


class AddPeerIpv6Route(ChangeBase):
    """A route on the peer's side of a peering, to this VPC's IPv6 block (maybe another
    account or Region, reached through the same target role there)."""

    action: Literal["add-peer-ipv6-route"] = "add-peer-ipv6-route"
    stage: Stage = "attachments"
    inverse: str = "delete-peer-ipv6-route"
    account_id: str
    region: str
    peering_id: str
    destination: str | None = None  # None: this VPC's IPv6 block, known once associated

    def _id_suffix(self) -> str:
        return f":{self.peering_id}"


class EnableCloudWanAttachmentIpv6(ChangeBase):
    action: Literal["enable-cloudwan-attachment-ipv6"] = "enable-cloudwan-attachment-ipv6"
    stage: Stage = "attachments"
    inverse: str = "disable-cloudwan-attachment-ipv6"


class EnableEndpointServiceIpv6(ChangeBase):
    action: Literal["enable-endpoint-service-ipv6"] = "enable-endpoint-service-ipv6"
    stage: Stage = "attachments"
    inverse: str = "remove-endpoint-service-ipv6"


class DualstackVpcEndpoint(ChangeBase):
    action: Literal["dualstack-vpc-endpoint"] = "dualstack-vpc-endpoint"
    stage: Stage = "attachments"
    inverse: str = "ipv4-vpc-endpoint"


class DualstackLoadBalancer(ChangeBase):
    action: Literal["dualstack-load-balancer"] = "dualstack-load-balancer"
    stage: Stage = "attachments"
    inverse: str = "ipv4-load-balancer"


class EnableCniIpv6Egress(ChangeBase):
    action: Literal["enable-cni-ipv6-egress"] = "enable-cni-ipv6-egress"
    stage: Stage = "cni"
    inverse: str = "restore-cni-configuration"
    managed: bool
    previous_configuration: str
    configuration: str
    resolve_conflicts: Literal["PRESERVE", "OVERWRITE", "NONE"] = "PRESERVE"


class RollNodegroup(ChangeBase):
    action: Literal["roll-nodegroup"] = "roll-nodegroup"
    stage: Stage = "nodes"
    inverse: str = "none"
    reversible: bool = False  # new nodes are not swapped back for IPv4-only ones
    strategy: Literal["launch-template-version", "replacement-group", "instance-refresh"]
    autoscaling_group: str | None = None  # self-managed groups: the group to refresh
    min_healthy_percentage: int = 90


Change = Annotated[
    AssociateVpcIpv6Cidr
    | AssociateSubnetIpv6Cidr
    | EnableSubnetIpv6AutoAssign
    | CreateEgressOnlyGateway
    | AddIpv6Route
    | AddSecurityGroupIpv6Rule
    | AddNaclIpv6Entry
    | EnableTgwAttachmentIpv6
    | AddPeerIpv6Route
    | EnableCloudWanAttachmentIpv6
    | EnableEndpointServiceIpv6
    | DualstackVpcEndpoint
    | DualstackLoadBalancer
    | EnableCniIpv6Egress
    | RollNodegroup,
    Field(discriminator="action"),
]


class Finding(Frozen):
    """A preflight finding. A blocker stops the run before any change; a warning informs."""

    code: str
    severity: Literal["blocker", "warning"]
    message: str
    resource: str | None = None


class Plan(Frozen):
    cluster: str
    account_id: str
    region: str
    vpc_id: str
    findings: tuple[Finding, ...] = ()
    changes: tuple[Change, ...] = ()
    # the nodes stage's work: nodes in the groups the plan rolls, when planned (not in the
    # plan's hash: a group that scaled meanwhile is the same plan)
    nodes_to_roll: int = 0

    @property
    def blockers(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "blocker")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def blocked(self) -> bool:
        return bool(self.blockers)

    def stage_changes(self, stage: Stage) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.stage == stage)

    def counts(self) -> dict[str, int]:
        return {stage: len(self.stage_changes(stage)) for stage in STAGES}


class ChangeLine(Frozen):
    """One change as people read it: in the dry run's output, chat and the CLI."""

    stage: Stage
    change_id: str
    text: str
    reversible: bool


class PlanSummary(Frozen):
    """What the Preflight step returns to the state machine: small, JSON, decision-ready."""

    migration_id: str
    cluster: str
    account_id: str
    region: str
    mode: Literal["plan", "apply"]
    blocked: bool
    blockers: tuple[Finding, ...]
    warnings: tuple[Finding, ...]
    counts: dict[str, int]
    changes: tuple[ChangeLine, ...]
    omitted_changes: int = Field(
        default=0,
        description="Changes left out of `changes` to keep the state's payload small; the "
        "ledger and `v6migrate plan` have them all.",
    )
    plan_hash: str = Field(default="", description="What an approval of this plan is bound to.")
    approval: ApprovalPolicy = Field(
        default=ApprovalPolicy(), description="The request's approval policy, with its defaults."
    )
    changed: tuple[str, ...] = Field(
        default=(),
        description="Planned again just before the first change: the change ids added (+) and "
        "dropped (-) since the plan that was approved; empty when it is the same plan.",
    )
    approved_plan_hash: str | None = Field(
        default=None,
        description="Planned again after the approval: the plan hash its approval record holds "
        "(or the wave's); the run goes on only if it is this plan's.",
    )
    node_poll_seconds: int | None = Field(
        default=None,
        description="Seconds between two polls of the node rollout: the stack's WaitSeconds, or "
        "longer where the nodes to roll need more than MaxPolls polls of it (the polls stay "
        "capped for the execution's history; the wait grows with the work).",
    )


class Check(Frozen):
    """One check of the validation: what, whether it held, and about what (node, resource)."""

    name: str
    ok: bool
    detail: str = ""


class ValidationReport(Frozen):
    passed: bool
    checks: tuple[Check, ...]
    failures: tuple[str, ...] = Field(description="`name: detail` of each failed check")


class StageEventDetail(Frozen):
    """The detail every v6migrate event carries (docs/events.md).

    `account_id` is null until Preflight knows it when the request left it out; `cluster` and
    `region` are null only in the Stage Failed event of a request that lacked them.
    """

    migration_id: str
    wave_id: str | None
    account_id: str | None
    region: str | None
    cluster: str | None
    stage: str
