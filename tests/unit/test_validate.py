"""Validation and the Kubernetes client, against moto and the simulated cluster (in-process).

DOMAIN.md, Kubernetes API from a Lambda and VPC CNI: the token, the access entry, aws-node's two
containers, a probe pod with v6if0 (fd00::ac:) whose IPv6 egress leaves from its node.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.cluster import AWS_NODE_READY_SECONDS
from local.gaps.timing import CLOCK
from local.seed import ESTATES
from tests.unit.estates import migrate, seeded
from v6migrate import apply, kube, validate
from v6migrate.aws import Clients
from v6migrate.changes import Context
from v6migrate.discover import discover
from v6migrate.journal import Ledger
from v6migrate.models import MigrationRequest
from v6migrate.plan import plan

SMALL = ESTATES["small"]


def _validate(request: MigrationRequest, target: Clients, ledger: Ledger) -> Any:
    event = apply.StageInput(request=request, migration_id="m-1")
    return validate.run(event, target, ledger)


def test_a_migrated_cluster_passes_every_check_and_the_access_entry_goes(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest, sim_cluster: Any
) -> None:
    migrate(request_, target, ledger)
    # planned again from what AWS now reports, nothing is left to change
    assert plan(discover(target, request_.cluster), request_.options).changes == ()
    report = _validate(request_, target, ledger)
    assert report.passed, report.failures
    names = {check.name for check in report.checks}
    assert "aws-node ENABLE_V6_EGRESS in both containers" in names
    # the add-on's own configuration is checked too (the estate's CNI is the EKS add-on)
    (addon,) = [c for c in report.checks if c.name == "vpc-cni add-on env and init.env"]
    assert addon.ok
    assert '"ENABLE_V6_EGRESS": "true"' in addon.detail.replace("'", '"')
    for group in ("system", "batch-v6", f"{SMALL.cluster}-legacy-asg"):  # batch -> batch-v6
        assert f"group {group}: pod v6if0" in names
        assert f"group {group}: ipv6 egress from the node's address" in names
    v6if0 = [c.detail for c in report.checks if c.name.endswith("pod v6if0")]
    assert all(":fd00::ac:" in detail.replace(" fd00", ":fd00") for detail in v6if0)
    assert target.eks.list_access_entries(clusterName=request_.cluster)["accessEntries"] == []
    assert ledger.read_note("m-1", "validation") == report.model_dump(mode="json")
    assert ledger.read_note("m-1", "access")["status"] == "removed"  # type: ignore[index]
    # When the network ACLs then deny HTTPS out over IPv6, the probes' egress is dropped on
    # its way (the pod's wget times out): validation says so for every group
    vpc = discover(target, request_.cluster).vpc.vpc_id
    acls = target.ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    for acl in acls["NetworkAcls"]:
        target.ec2.create_network_acl_entry(
            NetworkAclId=acl["NetworkAclId"], RuleNumber=1, Protocol="6", RuleAction="deny",
            Egress=True, Ipv6CidrBlock="::/0", PortRange={"From": 443, "To": 443},
        )  # fmt: skip
    egress = [c for c in _validate(request_, target, ledger).checks
              if c.name.endswith("ipv6 egress from the node's address")]  # fmt: skip
    assert len(egress) == 3
    assert all(not c.ok and "download timed out" in c.detail for c in egress)


def test_a_node_without_ipv6_fails_validation_and_is_named(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest, sim_cluster: Any
) -> None:
    migrate(request_, target, ledger)
    subnet = discover(target, request_.cluster).cluster.subnet_ids[0]
    stray = target.ec2.run_instances(
        ImageId="ami-0eks0node0image0sim", InstanceType="m6g.large", MinCount=1, MaxCount=1,
        SubnetId=subnet, Ipv6AddressCount=0, TagSpecifications=[{"ResourceType": "instance",
        "Tags": [{"Key": f"kubernetes.io/cluster/{request_.cluster}", "Value": "owned"}]}],
    )["Instances"][0]  # fmt: skip
    # auto-assign is on by now: take the address away, as a node booted before it would lack
    eni = stray["NetworkInterfaces"][0]
    addresses = [a["Ipv6Address"] for a in eni.get("Ipv6Addresses", [])]
    if addresses:
        target.ec2.unassign_ipv6_addresses(
            NetworkInterfaceId=eni["NetworkInterfaceId"], Ipv6Addresses=addresses
        )
    report = _validate(request_, target, ledger)
    assert not report.passed
    named = [f for f in report.failures if stray["PrivateDnsName"] in f]
    assert any("no v6if0 in the pod" in f for f in named)
    assert any("has ipv6" in f for f in named)


def test_validation_before_the_stages_fails_on_the_aws_checks(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest, sim_cluster: Any
) -> None:
    report = _validate(request_, target, ledger)
    failed = {check.name for check in report.checks if not check.ok}
    assert {"vpc ipv6 block", "subnets ipv6 and auto-assign", "every approved change in effect",
            "aws-node ENABLE_V6_EGRESS in both containers"} <= failed  # fmt: skip


@pytest.mark.parametrize(
    ("image", "script", "says"),
    [("registry.example/tools:1", None, "ErrImagePull"),
     ("public.ecr.aws/docker/library/busybox:stable", "curl -s https://x", "not found")],
)  # fmt: skip
def test_a_probe_that_cannot_run_fails_validation_at_once_saying_why(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest, sim_cluster: Any,
    monkeypatch: pytest.MonkeyPatch, image: str, script: str | None, says: str,
) -> None:  # fmt: skip
    # Kubernetes: a container whose image cannot be pulled waits (ErrImagePull) and never ends,
    # so waiting for it to finish would only time out; a command the image lacks ends it.
    if script is not None:
        monkeypatch.setattr(validate, "_probe_script", lambda url: script)
    options = request_.options.model_copy(update={"probe_image": image})
    report = _validate(request_.model_copy(update={"options": options}), target, ledger)
    probes = [c for c in report.checks if "pod v6if0" in c.name]
    assert probes
    assert all(not c.ok and says in c.detail for c in probes)


def _context(target: Clients, cluster: str) -> Context:
    return Context(clients=target, inventory=discover(target, cluster), migration_id="m-1")


def test_the_kubernetes_api_refuses_a_caller_without_an_access_entry(
    small_estate: dict[str, Any], target: Clients, sim_cluster: Any
) -> None:
    client = kube.connect(_context(target, SMALL.cluster))
    with pytest.raises(kube.KubeUnauthorized, match="403"):
        client.nodes()


def test_the_kubernetes_api_refuses_a_request_without_a_token(
    small_estate: dict[str, Any], target: Clients, sim_cluster: Any
) -> None:
    ctx = _context(target, SMALL.cluster)
    client = kube.connect(ctx)
    client.token = lambda: "not-an-eks-token"
    with kube.access(ctx, ("default",)), pytest.raises(kube.KubeUnauthorized, match="401"):
        client.nodes()


def _tamper(token: str, change: Any) -> str:
    import base64

    encoded = token.removeprefix(kube.TOKEN_PREFIX)
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    return kube.TOKEN_PREFIX + base64.urlsafe_b64encode(change(url).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("token", "refusal"),
    [
        # aws-iam-authenticator: STS checks the signature with x-k8s-aws-id set to the cluster
        # called, so a token made for another cluster does not verify for this one
        (lambda sts, cluster: kube.eks_token(sts, "another-cluster"), "signature"),
        (
            lambda sts, cluster: _tamper(
                kube.eks_token(sts, cluster),
                lambda u: u.replace("X-Amz-Signature=", "X-Amz-Signature=0"),
            ),
            "signature",
        ),
        (
            lambda sts, cluster: _tamper(
                kube.eks_token(sts, cluster),
                lambda u: u.replace("X-Amz-Security-Token=", "X-Amz-Security-Token=x"),
            ),
            "security token",
        ),
    ],
    ids=["another-cluster", "altered-signature", "another-session"],
)
def test_the_kubernetes_api_refuses_a_token_that_does_not_verify(
    small_estate: dict[str, Any], target: Clients, sim_cluster: Any, token: Any, refusal: str
) -> None:
    ctx = _context(target, SMALL.cluster)
    client = kube.connect(ctx)
    client.token = lambda: token(target.sts, SMALL.cluster)
    with kube.access(ctx, ("default",)):
        with pytest.raises(kube.KubeUnauthorized, match=f"401.*{refusal}"):
            client.nodes()
        client.token = lambda: kube.eks_token(target.sts, SMALL.cluster)
        assert client.nodes()  # the same caller, with its own cluster's token, gets in


def test_nodes_are_listed_with_their_addresses_through_an_access_entry(
    small_estate: dict[str, Any], target: Clients, sim_cluster: Any
) -> None:
    ctx = _context(target, SMALL.cluster)
    with kube.access(ctx, ("default",)) as principal:
        assert principal.endswith(":role/" + principal.rsplit("/", 1)[-1])
        nodes = kube.connect(ctx).nodes()
    assert len(nodes) == sum(g.nodes for g in SMALL.nodegroups)
    assert target.eks.list_access_entries(clusterName=SMALL.cluster)["accessEntries"] == []


def test_a_self_managed_cni_is_patched_in_both_containers_and_restored(
    moto: None, ledger: Ledger, sim_cluster: Any
) -> None:
    spec = SMALL.model_copy(update={"cni_addon": False})
    target, request = seeded(spec, ledger)
    event = apply.StageInput(request=request, migration_id="m-1")
    for _ in range(10):
        if apply.advance_stage("cni", event, target, ledger).done:
            break
        CLOCK.skip(AWS_NODE_READY_SECONDS)  # aws-node rolls out node by node
    else:
        raise AssertionError("the self-managed CNI stage never finished")
    env = sim_cluster.states[(spec.account_id, spec.region, spec.cluster)].aws_node_env
    assert env["aws-node"]["ENABLE_V6_EGRESS"] == "true"
    assert env["aws-vpc-cni-init"]["ENABLE_V6_EGRESS"] == "true"
    apply.compensate(apply.RollbackInput(request=request, migration_id="m-1"), target, ledger)
    assert "ENABLE_V6_EGRESS" not in env["aws-node"]
    assert "ENABLE_V6_EGRESS" not in env["aws-vpc-cni-init"]
    assert env["aws-node"]["WARM_ENI_TARGET"] == "1", "the other variables are kept"


def test_a_retried_validation_removes_the_access_entry_its_first_try_made(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest, sim_cluster: Any
) -> None:
    # Given a first try that made the entry and died before removing it
    ctx = _context(target, request_.cluster)
    principal = kube.role_arn(target.sts.get_caller_identity()["Arn"])
    target.eks.create_access_entry(clusterName=request_.cluster, principalArn=principal)
    ledger.note("m-1", "access", {"status": "intent", "principal": principal})
    # When the step runs again, it knows the entry is its own and removes it after
    _validate(request_, target, ledger)
    assert (
        target.eks.list_access_entries(clusterName=ctx.inventory.cluster.name)["accessEntries"]
        == []
    )


def test_nodes_outside_groups_left_out_by_request_are_listed_not_probed(
    small_estate: dict[str, Any], target: Clients, ledger: Ledger, sim_cluster: Any
) -> None:
    from v6migrate import preflight
    from v6migrate.models import PlanOptions

    # Given a Karpenter node (no node group, no IPv6) and a request that leaves such nodes out
    subnet = discover(target, SMALL.cluster).cluster.subnet_ids[0]
    stray = target.ec2.run_instances(
        ImageId="ami-0eks0node0image0sim", InstanceType="m6g.large", MinCount=1, MaxCount=1,
        SubnetId=subnet, TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": f"kubernetes.io/cluster/{SMALL.cluster}", "Value": "owned"},
            {"Key": "karpenter.sh/nodepool", "Value": "default"}]}],
    )["Instances"][0]  # fmt: skip
    request = MigrationRequest(
        cluster=SMALL.cluster, account_id=SMALL.account_id, region=SMALL.region, mode="apply",
        approval={"mode": "none"},
        options=PlanOptions(nodes_outside_groups="exclude"),
    )  # fmt: skip
    summary = preflight.run(
        preflight.PreflightInput(request=request, migration_id="m-1"), target, ledger
    )
    assert not summary.blocked
    # When the migration runs and is validated
    migrate(request, target, ledger)
    report = _validate(request, target, ledger)
    # Then it passes, names the node it left out, and sent it no probe
    assert report.passed, report.failures
    left_out = next(c for c in report.checks if c.name.startswith("nodes outside node groups"))
    assert stray["InstanceId"] in left_out.detail
    assert not any(stray["PrivateDnsName"] in c.name for c in report.checks)


def test_probes_run_in_a_restricted_namespace_of_their_own_with_admin_only_around_it(
    moto: None, ledger: Ledger, sim_cluster: Any
) -> None:
    # Given a cluster whose owner enforces `restricted` on `default`
    spec = SMALL
    target, request = seeded(spec, ledger)
    arn = target.eks.describe_cluster(name=spec.cluster)["cluster"]["arn"]
    target.eks.tag_resource(
        resourceArn=arn, tags={"v6migrate.local/pod-security-default": "restricted"}
    )
    migrate(request, target, ledger)
    grants: list[tuple[str, str]] = []

    def watch(params: dict[str, Any], model: Any, **_: Any) -> None:
        policy = params["policyArn"].rsplit("/", 1)[-1]
        grants.append((model.name, policy))

    for event in ("AssociateAccessPolicy", "DisassociateAccessPolicy"):
        target.eks.meta.events.register(f"provide-client-params.eks.{event}", watch)
    # When validated
    report = _validate(request, target, ledger)
    # Then it passes, and cluster admin was held only for the namespace's creation and deletion
    assert report.passed, report.failures
    admin = [g for g in grants if g[1] == "AmazonEKSClusterAdminPolicy"]
    assert (
        admin
        == [
            ("AssociateAccessPolicy", "AmazonEKSClusterAdminPolicy"),
            ("DisassociateAccessPolicy", "AmazonEKSClusterAdminPolicy"),
        ]
        * 2
    )
    state = sim_cluster.states[(spec.account_id, spec.region, spec.cluster)]
    assert validate.probe_namespace("m-1") not in state.namespaces  # deleted after
    assert ledger.read_note("m-1", "probe-namespace")["status"] == "deleted"  # type: ignore[index]


def test_rollback_deletes_the_probe_namespace_a_dead_validation_left(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest, sim_cluster: Any
) -> None:
    # Given a validation that made its namespace and died before deleting it
    ctx = _context(target, request_.cluster)
    namespace = validate.probe_namespace("m-1")
    ledger.note("m-1", validate.NAMESPACE_NOTE, {"status": "intent", "name": namespace})
    with kube.access(ctx, ()) as who, kube.cluster_admin(ctx, who):
        kube.connect(ctx).create_namespace(namespace, validate.NAMESPACE_LABELS)
    state = sim_cluster.states[(SMALL.account_id, SMALL.region, SMALL.cluster)]
    assert namespace in state.namespaces
    # When the migration is rolled back, the namespace goes, and no access entry stays
    apply.compensate(apply.RollbackInput(request=request_, migration_id="m-1"), target, ledger)
    assert namespace not in state.namespaces
    assert target.eks.list_access_entries(clusterName=request_.cluster)["accessEntries"] == []


class _Cluster:
    """A Kubernetes API that answers validation's reads from fixed facts: one node per
    instance, every probe's log as given."""

    def __init__(
        self, instances: list[str], log: str, crashing: int = 0, observed: int = 2,
        updated: int | None = None, running_reads: int = 0,
    ) -> None:  # fmt: skip
        self.instances, self.log, self.probes, self.crashing = instances, log, [], crashing
        self.observed, self.updated = observed, updated
        # how many reads of a probe pod find it still running (no result yet)
        self.running_reads, self.reads = running_reads, dict[str, int]()
        self.deleted: list[str] = []

    def aws_node(self) -> dict[str, Any]:
        count = len(self.instances)
        updated = count if self.updated is None else self.updated
        return {"metadata": {"generation": 2},
                "status": {"observedGeneration": self.observed, "desiredNumberScheduled": count,
                           "updatedNumberScheduled": updated,
                           "numberAvailable": count - self.crashing}}  # fmt: skip

    def aws_node_env(self) -> dict[str, dict[str, str | None]]:
        return {name: {"ENABLE_V6_EGRESS": "true"} for name in kube.CONTAINERS}

    def nodes(self) -> list[dict[str, Any]]:
        return [{"metadata": {"name": f"ip-{i}"}, "spec": {"providerID": f"aws:///az/{i}"}}
                for i in self.instances]  # fmt: skip

    def run_probe(self, namespace: str, name: str, *_: Any) -> None:
        self.probes.append(name)

    def probe_result(self, namespace: str, name: str) -> tuple[str, str] | None:
        self.reads[name] = self.reads.get(name, 0) + 1
        if self.reads[name] <= self.running_reads:
            return None
        return "Succeeded", self.log

    def delete_pod(self, namespace: str, name: str) -> None:
        self.deleted.append(name)


def _checks_in_cluster(
    monkeypatch: pytest.MonkeyPatch, node_v6: dict[str, tuple[str, ...]], cluster: _Cluster
) -> dict[str, Any]:
    from tests.unit.estates import inventory

    monkeypatch.setattr(validate, "primary_ipv6", lambda ctx, ids: node_v6)
    ctx = Context(clients=None, inventory=inventory(), migration_id="m-1")  # type: ignore[arg-type]
    request = MigrationRequest(cluster="orders", account_id="222222222222",
                               region="eu-west-1", mode="apply")  # fmt: skip
    checks = validate._cluster_checks(ctx, request, cluster, "ns")  # type: ignore[arg-type]
    return {c.name: c for c in checks}


def _in_cluster(
    monkeypatch: pytest.MonkeyPatch, node_v6: dict[str, tuple[str, ...]], cluster: _Cluster
) -> dict[str, bool]:
    return {name: c.ok for name, c in _checks_in_cluster(monkeypatch, node_v6, cluster).items()}


POD_V6 = "    inet6 fd00::ac:5/118 scope global\n"


@pytest.mark.parametrize(
    ("left_from", "passes"),
    [("2600:1f18::10", True), ("2600:1f18::99", False), ("10.0.2.10", False), ("failed", False)],
)
def test_egress_passes_only_from_the_nodes_own_ipv6_address(
    monkeypatch: pytest.MonkeyPatch, left_from: str, passes: bool
) -> None:
    # DOMAIN.md, VPC CNI: with ENABLE_V6_EGRESS a pod's IPv6 egress is translated to its node's
    # primary-ENI address; any other source (another host, a proxy, IPv4) proves nothing.
    cluster = _Cluster(["i-1"], POD_V6 + f"egress-source: {left_from}\n")
    checks = _in_cluster(monkeypatch, {"i-1": ("2600:1f18::10",)}, cluster)
    assert checks["group system: ipv6 egress from the node's address"] is passes
    assert checks["group system: pod v6if0"]


@pytest.mark.parametrize(("crashing", "passes"), [(0, True), (1, False)])
def test_validation_fails_while_aws_node_is_down_on_a_node(
    monkeypatch: pytest.MonkeyPatch, crashing: int, passes: bool
) -> None:
    # A node whose aws-node restarts for ever gives its pods no network, whatever its ENI has.
    cluster = _Cluster(["i-1", "i-2"], POD_V6 + "egress-source: 2600:1f18::10\n", crashing)
    checks = _in_cluster(monkeypatch, {"i-1": ("2600:1f18::10",), "i-2": ("2600:1f18::11",)},
                         cluster)  # fmt: skip
    assert checks["aws-node available on every node"] is passes


@pytest.mark.parametrize(("observed", "updated", "passes"), [(2, 2, True), (1, 2, False),
                                                            (2, 1, False)])  # fmt: skip
def test_validation_fails_while_aws_node_still_rolls_out(
    monkeypatch: pytest.MonkeyPatch, observed: int, updated: int, passes: bool
) -> None:
    # Until its controller has observed the flag's template and every pod runs it, the counts
    # describe pods that may not have the flag: nothing is shown yet.
    cluster = _Cluster(["i-1", "i-2"], POD_V6 + "egress-source: 2600:1f18::10\n",
                       observed=observed, updated=updated)  # fmt: skip
    checks = _in_cluster(monkeypatch, {"i-1": ("2600:1f18::10",), "i-2": ("2600:1f18::11",)},
                         cluster)  # fmt: skip
    assert checks["aws-node available on every node"] is passes


def test_validation_waits_for_every_probe_pod_to_finish(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    from v6migrate import aws

    # Given probe pods that are still running at the first reads (a pod takes seconds to pull
    # its image and run: Kubernetes pod phases Pending, Running, then Succeeded)
    monkeypatch.setenv("V6MIGRATE_POLL_SECONDS", "0.01")
    aws.settings.cache_clear()
    request.addfinalizer(aws.settings.cache_clear)
    cluster = _Cluster(["i-1", "i-2"], POD_V6 + "egress-source: 2600:1f18::10\n",
                       running_reads=2)  # fmt: skip
    # When validation runs its probes, Then it judges each only once the pod has finished
    checks = _in_cluster(monkeypatch, {"i-1": ("2600:1f18::10",), "i-2": ("2600:1f18::10",)},
                         cluster)  # fmt: skip
    assert checks["group system: pod v6if0"]
    assert all(reads == 3 for reads in cluster.reads.values())
    assert len(cluster.reads) == 2
    # and deletes each once it has its result
    assert sorted(cluster.deleted) == sorted(cluster.probes)


@pytest.mark.parametrize(
    ("state", "passes"),
    [("associated", True), ("associating", False), ("disassociating", False),
     ("disassociated", False), ("failed", False)],
)  # fmt: skip
def test_the_vpc_block_passes_only_once_associated(state: str, passes: bool) -> None:
    from tests.unit.estates import inventory, with_vpc_block

    estate = with_vpc_block(inventory())
    blocks = tuple(b.model_copy(update={"state": state}) for b in estate.vpc.ipv6_blocks)
    estate = estate.model_copy(
        update={"vpc": estate.vpc.model_copy(update={"ipv6_blocks": blocks})}
    )
    ctx = Context(clients=None, inventory=estate, migration_id="m-1")  # type: ignore[arg-type]
    request = MigrationRequest(cluster="orders", account_id="222222222222",
                               region="eu-west-1", mode="apply")  # fmt: skip
    checks = {c.name: c for c in validate._aws_checks(ctx, [], set(), request)}
    assert checks["vpc ipv6 block"].ok is passes


def test_the_pod_check_names_the_pods_ula_address_and_the_egress_check_the_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What an operator reads in the report: the pod's v6if0 address (fd00::ac:/118, DOMAIN.md,
    # VPC CNI) and where its egress left from, against the node's own address
    cluster = _Cluster(["i-1"], POD_V6 + "egress-source: 2600:1f18::10\n")
    checks = _checks_in_cluster(monkeypatch, {"i-1": ("2600:1f18::10",)}, cluster)
    assert checks["nodes to probe"].detail == "1 probe pods"
    assert not [name for name in checks if name.startswith("Fargate")]  # none in this cluster
    assert checks["group system: pod v6if0"].detail == "node ip-i-1 (i-1): fd00::ac:5"
    egress = checks["group system: ipv6 egress from the node's address"].detail
    assert egress == "node ip-i-1 (i-1): left from 2600:1f18::10, node has 2600:1f18::10"


def test_a_failed_download_is_reported_with_wgets_own_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = _Cluster(["i-1"], POD_V6 + "wget: bad address 'api6.ipify.org'\n")
    checks = _checks_in_cluster(monkeypatch, {"i-1": ("2600:1f18::10",)}, cluster)
    egress = checks["group system: ipv6 egress from the node's address"]
    assert not egress.ok
    assert egress.detail == ("node ip-i-1 (i-1): left from no answer (wget: bad address "
                             "'api6.ipify.org'), node has 2600:1f18::10")  # fmt: skip


@pytest.mark.parametrize(("instances", "passes"), [([], False), (["i-1"], True)])
def test_aws_node_passes_only_with_at_least_one_pod_scheduled(
    monkeypatch: pytest.MonkeyPatch, instances: list[str], passes: bool
) -> None:
    # A DaemonSet with no pod scheduled has rolled out trivially: it shows nothing.
    cluster = _Cluster(instances, POD_V6 + "egress-source: 2600:1f18::10\n")
    checks = _in_cluster(monkeypatch, dict.fromkeys(instances, ("2600:1f18::10",)), cluster)
    assert checks["aws-node available on every node"] is passes


@pytest.mark.parametrize(
    ("state", "assign", "passes"),
    [("associated", True, True), ("associating", True, False), (None, True, False),
     ("associated", False, False)],
)  # fmt: skip
def test_a_subnet_passes_once_its_64_is_associated_and_auto_assign_on(
    state: str | None, assign: bool, passes: bool
) -> None:
    from tests.unit.estates import inventory

    estate = inventory()
    # the state as discovery reads it from EC2's answer (parsed, not this file's literal)
    read = json.loads(json.dumps(state))
    subnets = tuple(s.model_copy(update={"ipv6_state": read, "assign_ipv6_on_creation": assign})
                    for s in estate.subnets)  # fmt: skip
    ctx = Context(clients=None, inventory=estate.model_copy(update={"subnets": subnets}),
                  migration_id="m-1")  # type: ignore[arg-type]  # fmt: skip
    request = MigrationRequest(cluster="orders", account_id="222222222222",
                               region="eu-west-1", mode="apply")  # fmt: skip
    checks = {c.name: c for c in validate._aws_checks(ctx, [], set(), request)}
    assert checks["subnets ipv6 and auto-assign"].ok is passes


@pytest.mark.parametrize(
    ("choice", "left_out"), [("block", set()), ("validate", set()), ("exclude", {"i-9"})]
)
def test_only_an_exclude_request_leaves_nodes_outside_groups_out(
    choice: str, left_out: set[str]
) -> None:
    from tests.unit.estates import inventory
    from v6migrate.models import Node, PlanOptions

    estate = inventory()
    bare = Node(instance_id="i-9", subnet_id="subnet-0003", nodegroup=None)
    with_bare = estate.model_copy(update={"nodes": (*estate.nodes, bare)})
    ctx = Context(clients=None, inventory=with_bare, migration_id="m-1")  # type: ignore[arg-type]
    request = MigrationRequest(cluster="orders", account_id="222222222222", region="eu-west-1",
                               mode="apply", options=PlanOptions(nodes_outside_groups=choice))  # type: ignore[arg-type]  # fmt: skip
    assert validate._excluded(ctx, request) == left_out


def test_a_cluster_that_lists_no_node_fails_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    # No node, no probe: nothing shows that pods egress over IPv6, so nothing may pass for it.
    cluster = _Cluster([], POD_V6 + "egress-source: 2600:1f18::10\n")
    checks = _in_cluster(monkeypatch, {}, cluster)
    assert cluster.probes == []
    assert checks["nodes to probe"] is False


def test_an_estate_without_nodes_fails_the_aws_node_check() -> None:
    from tests.unit.estates import inventory

    ctx = Context(clients=None, inventory=inventory(nodes=()), migration_id="m-1")  # type: ignore[arg-type]
    request = MigrationRequest(cluster="orders", account_id="222222222222",
                               region="eu-west-1", mode="apply")  # fmt: skip
    checks = {c.name: c for c in validate._aws_checks(ctx, [], set(), request)}
    found = checks["nodes with ipv6 on the primary ENI"]
    assert not found.ok
    assert "no node" in found.detail


@pytest.mark.parametrize(
    ("observed", "updated", "available", "done"),
    [
        (2, 3, 3, False),  # the new template not yet seen: the counts are the old one's
        (3, 2, 3, False),  # one node still runs the old template
        (3, 3, 2, False),  # one new pod not ready (or crash-looping)
        (3, 3, 3, True),
    ],
)
def test_aws_node_is_rolled_out_once_its_new_template_runs_everywhere(
    observed: int, updated: int, available: int, done: bool
) -> None:
    # `kubectl rollout status` for a DaemonSet: observedGeneration >= generation, then
    # updatedNumberScheduled and numberAvailable at desiredNumberScheduled.
    class Fixed(kube.Kube):
        def aws_node(self) -> dict[str, Any]:
            return {
                "metadata": {"generation": 3},
                "status": {"observedGeneration": observed, "desiredNumberScheduled": 3,
                           "updatedNumberScheduled": updated, "numberAvailable": available},
            }  # fmt: skip

    assert Fixed("https://cluster", "", lambda: "token").aws_node_rolled_out() is done


def test_fargate_nodes_are_listed_as_left_out_and_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a cluster with a Fargate node beside its EC2 node (no aws-node runs on Fargate)
    class _WithFargate(_Cluster):
        def nodes(self) -> list[dict[str, Any]]:
            fargate = {"metadata": {"name": "fargate-ip-10-0-1-5",
                                    "labels": {"eks.amazonaws.com/compute-type": "fargate"}},
                       "spec": {"providerID": "aws:///az/fargate-ip-10-0-1-5"}}  # fmt: skip
            return [*super().nodes(), fargate]

    cluster = _WithFargate(["i-1"], POD_V6 + "egress-source: 2600:1f18::10\n")
    checks = _checks_in_cluster(monkeypatch, {"i-1": ("2600:1f18::10",)}, cluster)
    # Then it is named, not probed, and does not fail the report
    fargate = checks["Fargate nodes, left out (no aws-node runs there)"]
    assert fargate.ok
    assert fargate.detail == "fargate-ip-10-0-1-5"
    assert checks["nodes to probe"].detail == "1 probe pods"
    assert all(check.ok for check in checks.values())
