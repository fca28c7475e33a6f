"""Applying and compensating against moto: journaled, re-runnable, and exactly reversible."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import Any

import pytest

from local.faults import ALL_SERVICES, MUTATING
from local.gaps.ec2_ipv6 import without_default_ipv6_rules
from local.seed import ESTATES
from tests.unit.conftest import AwsCalls, Crash
from v6migrate import apply, cni, preflight
from v6migrate.aws import Clients
from v6migrate.discover import discover
from v6migrate.journal import Ledger, MigrationInProgress
from v6migrate.models import MigrationRequest, PlanOptions
from v6migrate.plan import plan

SMALL = ESTATES["small"]


def _after_mutation(nth: int) -> Callable[[str, str, int], bool]:
    """Crash right after the nth mutating call of any service, in any account."""
    return lambda service, operation, mutations: (
        service in ALL_SERVICES and operation.startswith(MUTATING) and mutations == nth
    )


def _stage(stage: str, request: MigrationRequest, target: Clients, ledger: Ledger) -> Any:
    event = apply.StageInput(request=request, migration_id="m-1")
    return apply.run_stage(stage, event, target, ledger)  # type: ignore[arg-type]


def _remaining(target: Clients, request: MigrationRequest, stage: str) -> list[str]:
    fresh = plan(discover(target, request.cluster), request.options)
    return [c.change_id for c in fresh.stage_changes(stage)]  # type: ignore[arg-type]


def test_vpc_stage_applies_every_approved_change_and_journals_it(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    approved = ledger.plan(planned).stage_changes("vpc")
    report = _stage("vpc", request_, target, ledger)
    assert report.applied == len(approved)
    entries = [e for e in ledger.entries(planned) if e.change.stage == "vpc"]
    assert {e.status for e in entries} == {"applied"}
    assert all(e.before is not None for e in entries)
    assert _remaining(target, request_, "vpc") == []


def test_attachments_stage_enables_ipv6_on_every_attachment(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    _stage("vpc", request_, target, ledger)
    _stage("attachments", request_, target, ledger)
    inventory = discover(target, request_.cluster)
    block = inventory.vpc.ipv6_block
    assert block is not None
    assert inventory.peerings[0].peer_route_tables[0].has_route(str(block.cidr))
    assert all(a.ipv6_support for a in inventory.tgw_attachments)
    assert all(a.ipv6_support for a in inventory.cloudwan_attachments)
    assert _remaining(target, request_, "attachments") == []


# The nth mutating call (of any service, in any account) after which the Lambda dies: one of
# each kind of change of the vpc stage (the VPC's block, a /64, auto-assign, the gateway, a
# route, security group and NACL rules) and the attachments stage's first calls (TGW, a route,
# the peer account's route).
CRASH_POINTS = {"vpc": (1, 2, 8, 14, 15, 18, 24, 27), "attachments": (1, 2, 3)}


def test_stages_crashed_after_any_mutation_finish_on_rerun_without_duplicates(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    aws_calls: AwsCalls,
) -> None:  # fmt: skip
    for stage, points in CRASH_POINTS.items():
        aws_calls.seen.clear()
        crashed: list[int] = []
        # Given the stage dies right after each of these mutating calls, in turn, and is run
        # again by the state machine each time (every crash point of one run: the re-run
        # logic is the same whatever was applied before)
        for point in points:
            aws_calls.crash_when = _after_mutation(point)
            with pytest.raises(Crash):
                _stage(stage, request_, target, ledger)
            crashed.append(len(aws_calls.mutations()))
        # When it runs once more to its end
        _stage(stage, request_, target, ledger)
        # Then each crash was where it was meant to be, everything is in place, and each change
        # was made by one call: none made twice
        assert crashed == list(points)
        assert _remaining(target, request_, stage) == []
        assert len(aws_calls.mutations()) == len(ledger.plan(planned).stage_changes(stage))  # type: ignore[arg-type]
        assert {e.status for e in ledger.entries(planned) if e.change.stage == stage} <= {
            "applied",
            "in-place",
        }
    assert "ec2:CreateRoute" in aws_calls.mutations()  # the peer account's routes are seen too
    ec2 = target.ec2
    vpc_id = discover(target, request_.cluster).vpc.vpc_id
    gateways = [
        g for g in ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]
        if any(a["VpcId"] == vpc_id for a in g["Attachments"])
    ]  # fmt: skip
    assert len(gateways) == 1
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert all(len(s["Ipv6CidrBlockAssociationSet"]) == 1 for s in subnets)
    # And a second run of both stages makes no mutating call at all
    aws_calls.seen.clear()
    _stage("vpc", request_, target, ledger)
    _stage("attachments", request_, target, ledger)
    assert aws_calls.mutations() == []


def test_every_call_of_the_network_stages_retries_in_standard_mode(
    aws_calls: AwsCalls, planned: str, target: Clients, ledger: Ledger,
    request_: MigrationRequest,
) -> None:  # fmt: skip
    # botocore's default retry mode is still `legacy` (DOMAIN.md, throttling): every client the
    # run makes, in every account and service (the peer's too), is set to `standard` with the
    # configured number of attempts (V6MIGRATE_MAX_ATTEMPTS=2 here: 3 attempts in all). The
    # ledger's client is this test's own (the handler's is `apply.default_ledger`).
    aws_calls.retries.clear()  # not the seeding's
    _stage("vpc", request_, target, ledger)
    _stage("attachments", request_, target, ledger)
    made = [(s, r) for s, r in aws_calls.retries if s != "dynamodb"]
    services = {s for s, _ in made}
    assert {"ec2", "sts", "networkmanager"} <= services, services
    odd = {(s, str(r)) for s, r in made
           if r != {"mode": "standard", "total_max_attempts": 3}}  # fmt: skip
    assert not odd


def test_a_second_migration_of_the_same_cluster_is_refused(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    with pytest.raises(MigrationInProgress, match="being migrated by m-1"):
        preflight.run(
            preflight.PreflightInput(request=request_, migration_id="m-2"), target, ledger
        )


def _estate(target: Clients, vpc_id: str) -> dict[str, Any]:
    ec2 = target.ec2
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]

    def sort(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        return sorted(items, key=lambda item: item[key])

    subnets = sort(ec2.describe_subnets(Filters=by_vpc)["Subnets"], "SubnetId")
    for subnet in subnets:
        subnet["Ipv6CidrBlockAssociationSet"] = [
            a for a in subnet.get("Ipv6CidrBlockAssociationSet", [])
            if a["Ipv6CidrBlockState"]["State"] != "disassociated"
        ]  # fmt: skip
    tables = sort(ec2.describe_route_tables(Filters=by_vpc)["RouteTables"], "RouteTableId")
    for table in tables:
        table["Routes"] = sorted(
            (r for r in table["Routes"] if r.get("GatewayId") != "local"), key=str
        )
    acls = ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"]
    return {
        "subnets": subnets,
        "tables": tables,
        "groups": sort(ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"], "GroupId"),
        # AWS's own IPv6 rules of the default ACL come with the kept /56 (VPC user guide)
        "acls": sort([without_default_ipv6_rules(a) for a in acls], "NetworkAclId"),
        "tgw": ec2.describe_transit_gateway_vpc_attachments(Filters=by_vpc)[
            "TransitGatewayVpcAttachments"
        ],
        "eigw": [
            g
            for g in ec2.describe_egress_only_internet_gateways()["EgressOnlyInternetGateways"]
            if any(a["VpcId"] == vpc_id for a in g["Attachments"])
        ],
    }


def test_compensation_restores_the_estate_and_keeps_the_vpc_block(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    small_estate: dict[str, Any],
) -> None:  # fmt: skip
    vpc_id = small_estate["vpc_id"]
    before = _estate(target, vpc_id)
    _stage("vpc", request_, target, ledger)
    _stage("attachments", request_, target, ledger)
    report = apply.compensate(
        apply.RollbackInput(request=request_, migration_id=planned), target, ledger
    )
    assert report.kept == (f"vpc:associate-vpc-ipv6-cidr:{vpc_id}",)
    assert _estate(target, vpc_id) == before
    # every journaled change reverted but the kept /56: the one left untouched
    journaled = list(ledger.entries(planned))
    assert len(journaled) > 10
    assert report.untouched == 1
    assert len(report.reverted) == len(journaled) - 1
    # The journal keeps, for each reverted change, what it was before and what AWS returned
    reverted = [e for e in ledger.entries(planned) if e.status == "reverted"]
    subnet = next(e for e in reverted if e.change.action == "associate-subnet-ipv6-cidr")
    assert subnet.before == {"ipv6_cidr": None}
    assert subnet.result["association_id"].startswith("subnet-cidr-assoc-")
    peer = discover(target, request_.cluster).peerings[0].peer_route_tables[0]
    assert [r.destination for r in peer.routes if r.target.startswith("pcx-")] == [SMALL.vpc_cidr]
    assert discover(target, request_.cluster).vpc.ipv6_block is not None  # kept
    assert ledger.holder(SMALL.account_id, SMALL.region, SMALL.cluster) is None


def test_compensation_releases_the_block_when_the_request_opts_in(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    _stage("vpc", request_, target, ledger)
    releasing = request_.model_copy(update={"release_vpc_cidr": True})
    apply.compensate(apply.RollbackInput(request=releasing, migration_id=planned), target, ledger)
    assert discover(target, request_.cluster).vpc.ipv6_block is None


def test_a_finished_compensation_counts_one_rollback_for_the_dashboard(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    # MigrationsRolledBack feeds the dashboard (template.yaml): one finished compensation is
    # one rollback, whatever it reverted
    _stage("vpc", request_, target, ledger)
    apply.metrics.clear_metrics()
    apply.compensate(apply.RollbackInput(request=request_, migration_id=planned), target, ledger)
    rolled_back = apply.metrics.provider.metric_set["MigrationsRolledBack"]
    assert (rolled_back["Unit"], rolled_back["Value"]) == ("Count", [1.0])


@pytest.mark.parametrize("operation", ["AuthorizeSecurityGroupEgress",
                                       "CreateEgressOnlyInternetGateway"])  # fmt: skip
def test_compensation_reverts_an_intent_whose_effect_is_in_aws(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    small_estate: dict[str, Any], aws_calls: AwsCalls, operation: str,
) -> None:  # fmt: skip
    before = _estate(target, small_estate["vpc_id"])
    # AWS carried the call out, then the Lambda died: the answer (e.g. the new id) is lost
    aws_calls.crash_when = lambda _, called, __: called == operation
    with pytest.raises(Crash):
        _stage("vpc", request_, target, ledger)
    intents = [e for e in ledger.entries(planned) if e.status == "intent"]
    assert intents
    apply.compensate(apply.RollbackInput(request=request_, migration_id=planned), target, ledger)
    assert _estate(target, small_estate["vpc_id"]) == before


def test_blocks_a_rollback_released_still_listed_by_ec2_are_planned_again(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    small_estate: dict[str, Any],
) -> None:  # fmt: skip
    # Given a vpc stage compensated: its /64s disassociated, which EC2 keeps listing for a
    # while in state `disassociated` (DOMAIN.md, EC2 step 1)
    _stage("vpc", request_, target, ledger)
    apply.compensate(apply.RollbackInput(request=request_, migration_id=planned), target, ledger)
    subnets = target.ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [small_estate["vpc_id"]]}]
    )["Subnets"]
    states = {a["Ipv6CidrBlockState"]["State"]
              for s in subnets for a in s.get("Ipv6CidrBlockAssociationSet", [])}  # fmt: skip
    assert states == {"disassociated"}
    # When the estate is planned again, Then every subnet needs its /64 again, as at first
    fresh = plan(discover(target, request_.cluster), request_.options)
    wanted = {c.change_id for c in ledger.plan(planned).changes
              if c.action == "associate-subnet-ipv6-cidr"}  # fmt: skip
    assert wanted
    again = {c.change_id for c in fresh.changes if c.action == "associate-subnet-ipv6-cidr"}
    assert again == wanted


def test_compensation_never_touches_what_existed_before(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    small_estate: dict[str, Any],
) -> None:  # fmt: skip
    # Given a ::/0 egress rule someone added after the plan was approved
    inventory = discover(target, request_.cluster)
    group = next(g.group_id for g in inventory.security_groups if g.role == "node")
    target.ec2.authorize_security_group_egress(
        GroupId=group, IpPermissions=[{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]
    )
    # When the stage runs (it finds the rule in place) and is then compensated
    _stage("vpc", request_, target, ledger)
    apply.compensate(apply.RollbackInput(request=request_, migration_id=planned), target, ledger)
    # Then that rule survives
    rules = target.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    ipv6 = [r["CidrIpv6"] for p in rules["IpPermissionsEgress"] for r in p.get("Ipv6Ranges", [])]
    assert ipv6 == ["::/0"]


def test_the_network_stages_wait_for_what_aws_reports_before_going_on(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    small_estate: dict[str, Any], monkeypatch: pytest.MonkeyPatch, aws_calls: AwsCalls,
) -> None:  # fmt: skip
    from local.gaps.timing import SETTLE
    from v6migrate import aws

    # Given transitions that last a while after EC2 and Network Manager answer the call
    # (`associating`, a TGW attachment `modifying`, a Cloud WAN one `UPDATING`), and EC2
    # refusing auto-assign on a subnet whose /64 is not `associated` yet (DOMAIN.md, EC2
    # steps 1-3; Interconnects)
    monkeypatch.setenv("V6MIGRATE_POLL_SECONDS", "0.05")
    aws.settings.cache_clear()
    SETTLE.seconds = 0.5
    # When the vpc stage runs, Then it polls each block to `associated` before it uses it, and
    # applies every change in one go
    report = _stage("vpc", request_, target, ledger)
    assert report.applied == len(ledger.plan(planned).stage_changes("vpc"))
    assert _remaining(target, request_, "vpc") == []
    # And the attachments stage goes on from a TGW attachment, and ends, only once AWS reports
    # each attachment settled
    aws_calls.seen.clear()
    _stage("attachments", request_, target, ledger)
    operations = [o for _, o, _ in aws_calls.seen]
    modified = operations.index("ModifyTransitGatewayVpcAttachment")
    after = operations[modified + 1 :]
    following = next(i for i, o in enumerate(after) if o.startswith(("Create", "Update")))
    assert "DescribeTransitGatewayVpcAttachments" in after[:following]
    tgw = target.ec2.describe_transit_gateway_vpc_attachments(
        Filters=[{"Name": "vpc-id", "Values": [small_estate["vpc_id"]]}]
    )["TransitGatewayVpcAttachments"]
    assert {(a["State"], a["Options"]["Ipv6Support"]) for a in tgw} == {("available", "enable")}
    core = target.networkmanager.list_attachments()["Attachments"]
    assert core
    assert {a["State"] for a in core} == {"AVAILABLE"}


def test_a_wait_past_its_timeout_is_a_transient_error_and_the_retry_resumes(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    monkeypatch: pytest.MonkeyPatch, aws_calls: AwsCalls,
) -> None:  # fmt: skip
    from local.gaps.timing import SETTLE
    from v6migrate import aws
    from v6migrate.errors import TransientError

    # Given the VPC's block stays `associating` past the poll timeout
    monkeypatch.setenv("V6MIGRATE_POLL_SECONDS", "0.05")
    monkeypatch.setenv("V6MIGRATE_POLL_TIMEOUT_SECONDS", "0.3")
    aws.settings.cache_clear()
    SETTLE.seconds = 30.0
    # When the vpc stage waits for it, Then it gives up with a TransientError (the state
    # machine's Retry runs the stage again), its intent journaled
    with pytest.raises(TransientError, match="not yet in effect"):
        _stage("vpc", request_, target, ledger)
    assert [e.status for e in ledger.entries(planned)] == ["intent"]
    # And once the block is associated, the retry resumes: the block is not asked for again
    SETTLE.seconds = 0.0
    report = _stage("vpc", request_, target, ledger)
    assert report.already_applied == 1
    assert _remaining(target, request_, "vpc") == []
    assert [o for _, o, _ in aws_calls.seen].count("AssociateVpcCidrBlock") == 1


def test_a_stage_applies_only_what_was_approved_though_the_estate_changed_since(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    small_estate: dict[str, Any],
) -> None:  # fmt: skip
    # Given a subnet another team made in the VPC after the plan was approved (a fresh plan
    # would give it a /64; the approved one does not name it)
    vpc = target.ec2.describe_vpcs(VpcIds=[small_estate["vpc_id"]])["Vpcs"][0]
    network = ipaddress.ip_network(vpc["CidrBlock"])
    free = list(network.subnets(new_prefix=24))[-1]
    late = target.ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=str(free))["Subnet"]["SubnetId"]
    # When the vpc stage runs
    report = _stage("vpc", request_, target, ledger)
    # Then it applied exactly the approved changes, and the new subnet has no IPv6
    assert report.applied == len(ledger.plan(planned).stage_changes("vpc"))
    subnet = target.ec2.describe_subnets(SubnetIds=[late])["Subnets"][0]
    assert [b for b in subnet.get("Ipv6CidrBlockAssociationSet", [])
            if b["Ipv6CidrBlockState"]["State"] == "associated"] == []  # fmt: skip
    assert all(late not in e.change.change_id for e in ledger.entries(planned))


def test_load_balancers_and_privatelink_are_applied_and_reverted_when_asked(
    small_estate: dict[str, Any], target: Clients, ledger: Ledger
) -> None:
    # Given a request that opts in to dualstack load balancers and endpoints
    options = PlanOptions(dualstack_load_balancers=True, dualstack_endpoints=True)
    request = MigrationRequest(cluster=SMALL.cluster, account_id=SMALL.account_id,
                               region=SMALL.region, mode="apply", approval={"mode": "none"},
                               options=options)  # fmt: skip
    preflight.run(preflight.PreflightInput(request=request, migration_id="m-1"), target, ledger)
    # When both stages run
    _stage("vpc", request, target, ledger)
    _stage("attachments", request, target, ledger)
    # Then every load balancer, the endpoint service and the endpoint are dual-stack
    inventory = discover(target, request.cluster)
    assert {b.ip_address_type for b in inventory.load_balancers} == {"dualstack"}
    assert inventory.endpoint_services[0].supported_ip_address_types == ("ipv4", "ipv6")
    assert inventory.vpc_endpoints[0].ip_address_type == "dualstack"
    # And compensation puts them back to IPv4
    apply.compensate(apply.RollbackInput(request=request, migration_id="m-1"), target, ledger)
    inventory = discover(target, request.cluster)
    assert {b.ip_address_type for b in inventory.load_balancers} == {"ipv4"}
    assert inventory.endpoint_services[0].supported_ip_address_types == ("ipv4",)
    assert inventory.vpc_endpoints[0].ip_address_type == "ipv4"


def test_a_plan_that_cannot_be_stored_leaves_no_lock(
    small_estate: dict[str, Any], target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    class Failing(Ledger):
        def save_plan(self, migration_id: str, plan: Any) -> None:
            raise RuntimeError("the ledger is unavailable")

    failing = Failing(ledger._db, ledger._table)
    with pytest.raises(RuntimeError):
        preflight.run(
            preflight.PreflightInput(request=request_, migration_id="m-9"), target, failing
        )
    assert ledger.holder(SMALL.account_id, SMALL.region, SMALL.cluster) is None


def test_the_vpc_block_can_come_from_an_ipam_pool(
    small_estate: dict[str, Any], target: Clients, ledger: Ledger
) -> None:
    # Given an IPv6 IPAM pool in the target account and a request that names it
    target.ec2.create_ipam()
    pool = target.ec2.create_ipam_pool(IpamScopeId="ipam-scope-1", AddressFamily="ipv6")[
        "IpamPool"
    ]["IpamPoolId"]
    target.ec2.provision_ipam_pool_cidr(IpamPoolId=pool, Cidr="2600:1f18:4000::/44")
    options = PlanOptions(ipv6_source={"ipam_pool_id": pool, "netmask_length": 52})  # type: ignore[arg-type]
    request = MigrationRequest(cluster=SMALL.cluster, account_id=SMALL.account_id,
                               region=SMALL.region, mode="apply", approval={"mode": "none"},
                               options=options)  # fmt: skip
    preflight.run(preflight.PreflightInput(request=request, migration_id="m-1"), target, ledger)
    # When the vpc stage runs
    _stage("vpc", request, target, ledger)
    # Then the VPC has a /52 from the pool and every subnet a /64 inside it
    inventory = discover(target, request.cluster)
    block = inventory.vpc.ipv6_block
    assert block is not None
    assert block.cidr == "2600:1f18:4000::/52"
    assert all(str(s.ipv6_cidr).startswith("2600:1f18:4000:") for s in inventory.subnets)


def _advance(stage: str, request: MigrationRequest, target: Clients, ledger: Ledger) -> Any:
    event = apply.StageInput(request=request, migration_id="m-1")
    return apply.advance_stage(stage, event, target, ledger)  # type: ignore[arg-type]


def _cni_rolled_out(request: MigrationRequest, target: Clients, ledger: Ledger) -> int:
    """Poll the CNI stage, the clock moving on by one aws-node pod's start each time, until it
    is done (aws-node rolled out everywhere); how many polls it took."""
    from local.cluster import AWS_NODE_READY_SECONDS
    from local.gaps.timing import CLOCK

    for polls in range(1, 20):
        if _advance("cni", request, target, ledger).done:
            return polls
        CLOCK.skip(AWS_NODE_READY_SECONDS)
    raise AssertionError("aws-node never rolled out")


def _stage_durations(out: str) -> list[tuple[str, float, list[list[str]]]]:
    """The StageDuration metrics written (CloudWatch EMF lines): stage, seconds, dimensions."""
    found = []
    for line in out.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "StageDuration" in doc:
            directive = doc["_aws"]["CloudWatchMetrics"][0]
            assert directive["Metrics"] == [{"Name": "StageDuration", "Unit": "Seconds"}]
            [seconds] = doc["StageDuration"]  # one value per line
            found.append((doc["stage"], seconds, directive["Dimensions"]))
    return found


def test_a_long_stage_counts_its_duration_once_from_its_first_call_to_its_end(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from local.gaps.timing import CLOCK

    # Given the stages timed on the simulated clock (the one the rollouts run on), and the
    # service named as template.yaml's Globals name it (the autouse fixture)
    monkeypatch.setattr(apply, "clock", CLOCK.now)
    _stage("vpc", request_, target, ledger)
    assert [stage for stage, _, _ in _stage_durations(capsys.readouterr().out)] == ["vpc"]
    started = CLOCK.now()
    # When the CNI stage is polled until it is done (aws-node rolled out), then once more
    polls = _cni_rolled_out(request_, target, ledger)
    ended = CLOCK.now()
    _advance("cni", request_, target, ledger)
    # Then the dashboard gets one duration for it, from its first call to its end across every
    # poll and wait, under the dimensions it reads (template.yaml, MigrationsDashboard)
    assert polls > 1
    [(stage, seconds, dimensions)] = _stage_durations(capsys.readouterr().out)
    assert stage == "cni"
    assert seconds == pytest.approx(ended - started, abs=1.0)
    assert seconds > 1.0
    assert dimensions == [["stage", "service"]]


def test_no_stage_duration_is_written_while_metrics_are_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from v6migrate.observability import stage_duration

    # Powertools' switch (POWERTOOLS_METRICS_DISABLED) holds for this metric too
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    stage_duration("vpc", 1.5)
    assert _stage_durations(capsys.readouterr().out) == []
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    stage_duration("vpc", 1.5)
    assert [stage for stage, _, _ in _stage_durations(capsys.readouterr().out)] == ["vpc"]


def test_long_stages_start_then_poll_and_roll_at_most_the_requested_concurrency(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    from local.gaps.rollouts import ADDON_UPDATE_SECONDS, SECONDS_PER_NODE
    from local.gaps.timing import CLOCK

    one_at_a_time = request_.model_copy(
        update={"options": request_.options.model_copy(update={"node_concurrency": 1})}
    )
    _stage("vpc", one_at_a_time, target, ledger)
    _stage("attachments", one_at_a_time, target, ledger)
    # CNI: the first call starts the add-on update, a later one sees it done
    first = _advance("cni", one_at_a_time, target, ledger)
    assert (first.done, first.running) == (False, ("cni:enable-cni-ipv6-egress:vpc-cni",))
    CLOCK.skip(ADDON_UPDATE_SECONDS)
    assert _cni_rolled_out(one_at_a_time, target, ledger) > 1  # aws-node rolls out after
    assert _remaining(target, one_at_a_time, "cni") == []
    # Nodes: one group at a time, the others wait their turn
    progress = _advance("nodes", one_at_a_time, target, ledger)
    assert len(progress.running) == 1
    assert len(progress.waiting) == 2
    for _ in range(20):
        if progress.done:
            break
        assert len(progress.running) <= 1
        CLOCK.skip(SECONDS_PER_NODE)
        progress = _advance("nodes", one_at_a_time, target, ledger)
    assert progress.done
    nodes = discover(target, one_at_a_time.cluster).nodes
    assert nodes
    assert all(node.ipv6_addresses for node in nodes)
    statuses = {e.change.change_id: e.status for e in ledger.entries("m-1")}
    assert {s for c, s in statuses.items() if c.startswith(("cni:", "nodes:"))} == {"applied"}


def _cni_values(target: Clients, request: MigrationRequest) -> str:
    addon = target.eks.describe_addon(clusterName=request.cluster, addonName="vpc-cni")
    return str(addon["addon"].get("configurationValues", ""))


@pytest.mark.parametrize("answer", ["journaled", "lost"])
def test_compensation_waits_for_an_add_on_update_still_running_then_restores_it(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    aws_calls: AwsCalls, answer: str,
) -> None:  # fmt: skip
    from local.gaps.rollouts import ADDON_UPDATE_SECONDS
    from local.gaps.timing import CLOCK

    # Given the CNI stage's add-on update still running when the run fails (EKS refuses a
    # second update meanwhile: ResourceInUseException, 409), its id journaled or, the Lambda
    # dead right after EKS accepted it, lost
    before = _cni_values(target, request_)
    _stage("vpc", request_, target, ledger)
    if answer == "lost":
        aws_calls.crash_when = lambda _, operation, __: operation == "UpdateAddon"
        with pytest.raises(Crash):
            _advance("cni", request_, target, ledger)
    else:
        assert not _advance("cni", request_, target, ledger).done
    # When the run is compensated at once
    event = apply.RollbackInput(request=request_, migration_id="m-1")
    first = apply.compensate(event, target, ledger)
    # Then compensation waits for AWS's update to end (it does not fail on the refusal), and
    # then restores the configuration exactly
    assert first.done is False
    assert "vpc-cni" in (first.waiting_on or "")
    reports = [first]
    while not reports[-1].done and len(reports) < 30:
        CLOCK.skip(ADDON_UPDATE_SECONDS)
        reports.append(apply.compensate(event, target, ledger))
    assert reports[-1].done
    assert _cni_values(target, request_) == before


def test_compensation_restores_the_cni_configuration_exactly_after_polling(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    from local.gaps.rollouts import ADDON_UPDATE_SECONDS
    from local.gaps.timing import CLOCK

    before = _cni_values(target, request_)
    _stage("vpc", request_, target, ledger)
    _advance("cni", request_, target, ledger)
    CLOCK.skip(ADDON_UPDATE_SECONDS)
    _cni_rolled_out(request_, target, ledger)
    assert _cni_values(target, request_) != before
    event = apply.RollbackInput(request=request_, migration_id="m-1")
    waiting = apply.compensate(event, target, ledger)
    assert waiting.done is False
    assert "vpc-cni" in (waiting.waiting_on or "")
    # nothing reverted yet (the CNI first, and it runs): every journaled change is untouched
    assert waiting.reverted == ()
    assert waiting.untouched == len(list(ledger.entries("m-1"))) > 1
    CLOCK.skip(ADDON_UPDATE_SECONDS)
    # the add-on restored, its pods are replaced a few nodes at a time: the network waits
    reports = [apply.compensate(event, target, ledger)]
    assert "aws-node" in (reports[0].waiting_on or "")
    while not reports[-1].done and len(reports) < 20:
        CLOCK.skip(ADDON_UPDATE_SECONDS)
        reports.append(apply.compensate(event, target, ledger))
    finished = reports[-1]
    assert finished.done
    assert "cni:enable-cni-ipv6-egress:vpc-cni" in finished.reverted
    assert _cni_values(target, request_) == before


def test_an_eks_token_is_a_presigned_get_caller_identity_signing_the_cluster(
    target: Clients,
) -> None:
    import base64
    import urllib.parse

    from v6migrate.kube import eks_token, role_arn

    token = eks_token(target.sts, "orders-prod")
    assert token.startswith("k8s-aws-v1.")
    assert not token.endswith("=")
    body = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert query["Action"] == ["GetCallerIdentity"]
    assert query["X-Amz-Expires"] == ["60"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    assert role_arn("arn:aws:sts::222222222222:assumed-role/v6migrate-target/s1") == (
        "arn:aws:iam::222222222222:role/v6migrate-target"
    )


def test_compensation_removes_an_access_entry_a_dead_validation_left(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    principal = f"arn:aws:iam::{SMALL.account_id}:role/v6migrate-target"
    target.eks.create_access_entry(clusterName=request_.cluster, principalArn=principal)
    ledger.note("m-1", "access", {"status": "intent", "principal": principal})
    apply.compensate(apply.RollbackInput(request=request_, migration_id="m-1"), target, ledger)
    assert target.eks.list_access_entries(clusterName=request_.cluster)["accessEntries"] == []
    assert ledger.read_note("m-1", "access") == {"status": "removed", "principal": principal}


def test_compensation_keeps_an_access_entry_the_validation_removed_or_never_made(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    principal = target.iam.create_role(RoleName="someone-else", AssumeRolePolicyDocument="{}")[
        "Role"
    ]["Arn"]
    target.eks.create_access_entry(clusterName=request_.cluster, principalArn=principal)
    apply.compensate(apply.RollbackInput(request=request_, migration_id="m-1"), target, ledger)
    assert target.eks.list_access_entries(clusterName=request_.cluster)["accessEntries"] == [
        principal
    ]


def _group_instances(target: Clients, cluster: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in discover(target, cluster).nodes:
        found.setdefault(str(node.nodegroup), set()).add(node.instance_id)
    return found


def test_rolled_nodes_are_kept_on_rollback_by_default(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    aws_calls: AwsCalls,
) -> None:  # fmt: skip
    from tests.unit.estates import migrate

    migrate(request_, target, ledger)
    rolled = _group_instances(target, request_.cluster)
    event = apply.RollbackInput(request=request_, migration_id="m-1")
    # DOMAIN.md, rollback: the CNI flag goes off first, and the network waits until it is off
    # (a pod given an IPv6 egress path loses it before the path itself goes)
    while_cni_reverts: list[str] = []
    aws_calls.seen.clear()
    for _ in range(10):
        report = apply.compensate(event, target, ledger)
        if report.done:
            break
        if "vpc-cni" in str(report.waiting_on):
            while_cni_reverts += aws_calls.mutations()
        aws_calls.seen.clear()
        _skip_clock()
    assert while_cni_reverts[0] == "eks:UpdateAddon"
    assert not [m for m in while_cni_reverts if not m.startswith("eks:")]
    assert {c for c in report.kept if c.startswith("nodes:")} == {
        f"nodes:roll-nodegroup:{g}" for g in ("batch", "system", f"{SMALL.cluster}-legacy-asg")
    }
    assert _group_instances(target, request_.cluster) == rolled
    # the kept changes (the rollouts and the /56) are the ones the report leaves untouched
    assert report.untouched == len(report.kept) == 4


@pytest.mark.parametrize("clock", ["between calls", "while a call reads"])
def test_rolled_nodes_are_cycled_back_when_the_request_asks(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    aws_calls: AwsCalls, clock: str,
) -> None:  # fmt: skip
    from tests.unit.estates import migrate

    migrate(request_, target, ledger)
    rolled = _group_instances(target, request_.cluster)
    asking = request_.model_copy(update={"recycle_nodes_on_rollback": True})
    event = apply.RollbackInput(request=asking, migration_id="m-1")
    if clock == "while a call reads":
        # On AWS a rollout finishes on its own time: here, between a call's first read of the
        # estate and its poll of the rollout, so the recycle's new nodes (IPv6 from the /64s,
        # which still auto-assign) are launched after that read: compensation reads again
        # before it releases the /64s, or it would keep them as another team's.
        def a_batch_launched_and_ready(**_: Any) -> None:
            from local.gaps.rollouts import SECONDS_PER_NODE
            from local.gaps.timing import CLOCK, NODE_READY_SECONDS

            CLOCK.skip(SECONDS_PER_NODE + NODE_READY_SECONDS)

        target.eks.meta.events.register(
            "before-call.eks.DescribeUpdate", a_batch_launched_and_ready
        )
        target.autoscaling.meta.events.register(
            "before-call.autoscaling.DescribeInstanceRefreshes", a_batch_launched_and_ready
        )
    waited_on = []
    calls: list[list[str]] = []
    for _ in range(30):
        aws_calls.seen.clear()
        report = apply.compensate(event, target, ledger)
        calls.append(aws_calls.mutations())
        if report.done:
            break
        # a rollback that waits still holds the cluster's lock: no other run may start
        assert ledger.holder(SMALL.account_id, SMALL.region, SMALL.cluster) == "m-1"
        waited_on.append(report.waiting_on)
        if "cycling its nodes back" in str(report.waiting_on):
            cycling = report
            if clock == "while a call reads":
                continue  # the hook moves the clock
        _skip_clock()
    assert report.done
    # a report that waits counts as untouched each journaled change it has not reverted yet
    # (the CNI's restore is done by then: the nodes are cycled after it)
    assert "cni:enable-cni-ipv6-egress:vpc-cni" in cycling.reverted
    assert cycling.untouched == len(list(ledger.entries("m-1"))) - len(cycling.reverted)
    # the nodes the recycle launched count as the cluster's: every /64 goes (none is kept as
    # if another team's interface used it)
    assert not [c for c in report.kept if c.startswith("vpc:associate-subnet")]
    assert [c.split(":")[1] for c in report.kept] == ["associate-vpc-ipv6-cidr"]
    assert report.untouched == 1  # the /56, kept
    assert ledger.holder(SMALL.account_id, SMALL.region, SMALL.cluster) is None
    # DOMAIN.md, rollback: the CNI flag goes off (and aws-node rolls that out) before the
    # nodes are recycled, so the new nodes start their pods without an IPv6 egress path
    made = [m for call in calls for m in call]
    assert made[0] == "eks:UpdateAddon"
    while_cni_reverts = [m for call, waiting in zip(calls, waited_on, strict=False)
                         if "vpc-cni" in str(waiting) or "aws-node" in str(waiting)
                         for m in call]  # fmt: skip
    assert "eks:UpdateAddon" in while_cni_reverts
    assert not [m for m in while_cni_reverts if "Nodegroup" in m or not m.startswith("eks:")]
    assert any("cycling its nodes back" in str(w) for w in waited_on)
    assert {c for c in report.reverted if c.startswith("nodes:")} == {
        f"nodes:roll-nodegroup:{g}" for g in ("batch", "system", f"{SMALL.cluster}-legacy-asg")
    }
    after = _group_instances(target, request_.cluster)
    for group, instances in rolled.items():
        assert not instances & after.get(group, set()), f"{group} kept a node of the rollout"


def _skip_clock() -> None:
    from local.gaps.rollouts import ADDON_UPDATE_SECONDS, SECONDS_PER_NODE
    from local.gaps.timing import CLOCK

    CLOCK.skip(max(ADDON_UPDATE_SECONDS, SECONDS_PER_NODE))


def test_a_failed_addon_update_ends_the_cni_stage_naming_the_addon(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    from local.gaps.rollouts import FAIL_TAG
    from v6migrate.errors import ChangeFailed

    addon = target.eks.describe_addon(clusterName=request_.cluster, addonName="vpc-cni")["addon"]
    target.eks.tag_resource(resourceArn=addon["addonArn"], tags={FAIL_TAG: "ConfigurationConflict"})
    _stage("vpc", request_, target, ledger)
    assert not _advance("cni", request_, target, ledger).done
    _skip_clock()
    with pytest.raises(
        ChangeFailed, match=r"vpc-cni add-on: update .* Failed: ConfigurationConflict"
    ):
        _advance("cni", request_, target, ledger)


def test_a_failed_instance_refresh_ends_the_nodes_stage_naming_the_group(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    from local.gaps.rollouts import FAIL_TAG
    from v6migrate.errors import ChangeFailed

    group = f"{request_.cluster}-legacy-asg"
    target.autoscaling.create_or_update_tags(Tags=[{
        "ResourceId": group, "ResourceType": "auto-scaling-group", "Key": FAIL_TAG,
        "Value": "Failed", "PropagateAtLaunch": False,
    }])  # fmt: skip
    _stage("vpc", request_, target, ledger)
    progress = _advance("nodes", request_, target, ledger)
    assert f"nodes:roll-nodegroup:{group}" in progress.running
    _skip_clock()
    with pytest.raises(ChangeFailed, match=f"node group {group}: instance refresh Failed"):
        _advance("nodes", request_, target, ledger)


def test_rollback_leaves_foreign_interfaces_alone_and_keeps_the_64s_they_use(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    small_estate: dict[str, Any],
) -> None:  # fmt: skip
    # Given a migrated VPC where, during the run, another team's instance took an address from
    # a private subnet's /64 and a load balancer was made dualstack by its owner (its
    # requester-managed interfaces took addresses too: EC2 refuses to unassign those)
    vpc_id = small_estate["vpc_id"]
    _stage("vpc", request_, target, ledger)
    inventory = discover(target, request_.cluster)
    private = inventory.cluster.subnet_ids[0]
    other = target.ec2.run_instances(
        ImageId="ami-0other0team0image00", InstanceType="t3.micro", MinCount=1, MaxCount=1,
        SubnetId=private,
    )["Instances"][0]  # fmt: skip
    other_eni = other["NetworkInterfaces"][0]
    assert other_eni["Ipv6Addresses"], "auto-assign gave the other team's instance an address"
    alb = next(
        b for b in target.elbv2.describe_load_balancers()["LoadBalancers"]
        if b["Type"] == "application"
    )  # fmt: skip
    target.elbv2.set_ip_address_type(
        LoadBalancerArn=alb["LoadBalancerArn"], IpAddressType="dualstack"
    )
    alb_subnets = {z["SubnetId"] for z in alb["AvailabilityZones"]}
    # When the run is rolled back
    report = apply.compensate(
        apply.RollbackInput(request=request_, migration_id=planned), target, ledger
    )
    # Then the foreign interfaces keep their addresses, the /64s they use are kept and said so,
    # and every other subnet's /64 is released
    after = target.ec2.describe_network_interfaces(
        NetworkInterfaceIds=[other_eni["NetworkInterfaceId"]]
    )["NetworkInterfaces"][0]

    def addresses(eni: dict[str, Any]) -> list[str]:
        return [a["Ipv6Address"] for a in eni["Ipv6Addresses"]]

    assert addresses(after) == addresses(other_eni)
    held = {private} | alb_subnets
    kept_subnets = {c.rsplit(":", 1)[-1] for c in report.kept if "associate-subnet" in c}
    assert kept_subnets == held
    # what it left untouched is what it kept: the /56 and each /64 another team's ENI holds
    assert report.untouched == len(report.kept) == 1 + len(held)
    why = report.why_kept[f"vpc:associate-subnet-ipv6-cidr:{private}"]
    assert other_eni["NetworkInterfaceId"] in why
    assert "not this cluster's nodes" in why
    for subnet in target.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "Subnets"
    ]:
        live = [
            a for a in subnet.get("Ipv6CidrBlockAssociationSet", [])
            if a["Ipv6CidrBlockState"]["State"] == "associated"
        ]  # fmt: skip
        assert bool(live) == (subnet["SubnetId"] in held), subnet["SubnetId"]
        assert not subnet["AssignIpv6AddressOnCreation"]
    assert ledger.holder(SMALL.account_id, SMALL.region, SMALL.cluster) is None


def test_icmp_nacl_entries_get_icmpv6_twins_that_ec2_accepts(
    small_estate: dict[str, Any], target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    # Given a custom NACL that lets every ICMP unreachable message in (path MTU discovery)
    vpc_id = small_estate["vpc_id"]
    acls = target.ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    acl = next(a for a in acls["NetworkAcls"] if not a["IsDefault"])["NetworkAclId"]
    target.ec2.create_network_acl_entry(
        NetworkAclId=acl, RuleNumber=300, Protocol="1", RuleAction="allow", Egress=False,
        CidrBlock="0.0.0.0/0", IcmpTypeCode={"Type": 3, "Code": -1},
    )  # fmt: skip
    preflight.run(preflight.PreflightInput(request=request_, migration_id="m-1"), target, ledger)
    # When the vpc stage runs
    _stage("vpc", request_, target, ledger)
    # Then ICMPv6 destination unreachable and Packet Too Big are allowed from ::/0
    entries = target.ec2.describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
    twins = sorted(
        (e["RuleNumber"], e["Protocol"], e["IcmpTypeCode"]["Type"], e["IcmpTypeCode"]["Code"])
        for e in entries
        if e.get("Ipv6CidrBlock") == "::/0" and not e["Egress"] and e["RuleNumber"] > 300
        and e["RuleNumber"] < 310
    )  # fmt: skip
    assert twins == [(301, "58", 1, -1), (302, "58", 2, 0)]
    assert _remaining(target, request_, "vpc") == []


def test_rolled_node_groups_keep_their_ami_release(moto: None, ledger: Ledger) -> None:
    # EKS API reference, UpdateNodegroupVersion / CreateNodegroup: without releaseVersion a group
    # on an EKS optimized AMI moves to the latest release, and can never go back: a side effect
    # the plan never said, and no rollback can undo.
    from local.gaps.eks import AMI_RELEASES, release_image
    from local.seed import NodegroupSpec
    from tests.unit.estates import migrate, seeded

    old, _ = AMI_RELEASES[SMALL.kubernetes_version]
    spec = SMALL.model_copy(update={"nodegroups": (
        NodegroupSpec(name="pinned", custom_ami=False, release_version=old, nodes=1),
        NodegroupSpec(name="classic", launch_template=False, release_version=old, nodes=1),
    )})  # fmt: skip
    target, request = seeded(spec, ledger)
    migrate(request, target, ledger)
    inventory = discover(target, spec.cluster)
    assert {n.nodegroup for n in inventory.nodes} == {"pinned", "classic-v6"}
    assert all(n.ipv6_addresses for n in inventory.nodes)
    for name in ("pinned", "classic-v6"):
        group = target.eks.describe_nodegroup(clusterName=spec.cluster, nodegroupName=name)
        assert group["nodegroup"]["releaseVersion"] == old, name
    images = {
        i["ImageId"]
        for r in target.ec2.describe_instances(
            InstanceIds=[n.instance_id for n in inventory.nodes]
        )["Reservations"]
        for i in r["Instances"]
    }
    assert images == {release_image(old)}


def test_a_self_managed_group_with_a_protected_node_is_refreshed_whole(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest
) -> None:
    # Given a self-managed node protected from scale in (Auto Scaling's default preference,
    # Wait, would hold the refresh and fail it after an hour)
    from tests.unit.estates import migrate

    groups = target.autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    name = next(g for g in groups if g["AutoScalingGroupName"].endswith("legacy-asg"))[
        "AutoScalingGroupName"
    ]
    protected = next(g for g in groups if g["AutoScalingGroupName"] == name)["Instances"][0]
    target.autoscaling.set_instance_protection(
        AutoScalingGroupName=name, InstanceIds=[protected["InstanceId"]], ProtectedFromScaleIn=True
    )
    # When the migration runs, every node ends with IPv6, the protected one replaced too
    migrate(request_, target, ledger)
    nodes = discover(target, request_.cluster).nodes
    assert protected["InstanceId"] not in {n.instance_id for n in nodes}
    assert all(n.ipv6_addresses for n in nodes)


def test_a_replaced_groups_old_nodes_go_one_at_a_time(moto: None, ledger: Ledger) -> None:
    # Scaling a managed group in forces termination after about 5 minutes, PodDisruptionBudgets
    # or not: the old group is stepped down one node per update, each waited for.
    from local.seed import NodegroupSpec
    from tests.unit.estates import migrate, seeded

    spec = SMALL.model_copy(
        update={"nodegroups": (NodegroupSpec(name="classic", launch_template=False, nodes=3),)}
    )
    target, request = seeded(spec, ledger)
    sizes: list[int] = []

    def watch(params: dict[str, Any], **_: Any) -> None:
        if params.get("nodegroupName") == "classic":
            sizes.append(params["scalingConfig"]["desiredSize"])

    target.eks.meta.events.register("provide-client-params.eks.UpdateNodegroupConfig", watch)
    migrate(request, target, ledger)
    assert sizes == [2, 1, 0]
    old = target.eks.describe_nodegroup(clusterName=spec.cluster, nodegroupName="classic")
    assert old["nodegroup"]["scalingConfig"]["desiredSize"] == 0


@pytest.mark.parametrize("action", ["UpdateNodegroupVersion", "StartInstanceRefresh"])
def test_compensation_waits_for_a_rollout_whose_answer_was_lost(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest, action: str,
    aws_calls: AwsCalls,
) -> None:  # fmt: skip
    # EKS API reference, Nodegroup.status: UPDATING while an update runs; Auto Scaling's
    # DescribeInstanceRefreshes: Pending/InProgress. Nodes launched while the subnets' /64s
    # and routes are taken away come up half-configured, so the network waits for them.
    from tests.unit.estates import migrate

    # Given the nodes stage died after AWS accepted the rollout, before its answer was journaled
    # (the groups start together: others may be rolling too)
    aws_calls.crash_when = lambda service, operation, _: operation == action
    with pytest.raises(Crash):
        migrate(request_, target, ledger)
    # When compensation runs, it reverts no network change while the rollout runs
    from local.gaps.rollouts import ADDON_UPDATE_SECONDS, SECONDS_PER_NODE
    from local.gaps.timing import CLOCK

    assert ADDON_UPDATE_SECONDS < SECONDS_PER_NODE  # one step of the clock ends the CNI revert only
    live_at_revert: list[str] = []
    network_reverts: list[str] = []  # proof the hook sees the calls (on the client they use)

    def still_live(model: Any, **_: Any) -> None:
        if model.name.startswith(MUTATING):
            network_reverts.append(model.name)
            if _live_rollouts(target, request_.cluster):
                live_at_revert.append(model.name)

    target.ec2.meta.events.register("before-call", still_live)  # the network's reverts
    event = apply.RollbackInput(request=request_, migration_id="m-1")
    assert _live_rollouts(target, request_.cluster)  # rolling when compensation begins
    reports = [apply.compensate(event, target, ledger)]
    while not reports[-1].done and len(reports) < 40:
        CLOCK.skip(ADDON_UPDATE_SECONDS / 2)  # the CNI's revert, then aws-node's rollout
        reports.append(apply.compensate(event, target, ledger))
    assert network_reverts
    assert live_at_revert == []
    if action == "UpdateNodegroupVersion":
        # (the one-node refresh comes to rest while the CNI's restore rolls aws-node out,
        # before the network's turn: only the two-node group is still rolling then)
        assert any("still rolling" in str(r.waiting_on) for r in reports)
    report = reports[-1]
    # Then it finishes with every node group at rest and the network reverted
    assert report.done
    assert _live_rollouts(target, request_.cluster) == []
    assert any(c.startswith("vpc:") for c in report.reverted)
    # and the nodes the rollout launched count as the cluster's: their addresses go back, so
    # every /64 is released (none kept as if another team's interface still used it)
    assert not [c for c in report.why_kept if not c.startswith("nodes:")]
    assert not [c for c in report.kept if c.startswith("vpc:associate-subnet")]


def test_the_cni_stage_waits_for_aws_node_to_roll_out_after_the_add_on_update(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest, sim_cluster: Any
) -> None:
    # Found by the simulated rollout: an add-on update that EKS reports Successful has changed
    # the aws-node DaemonSet, whose pods are then replaced a few nodes at a time
    # (amazon-vpc-cni-k8s: RollingUpdate, maxUnavailable 10%). Rolling node groups meanwhile,
    # or validating, reads counts of pods without the flag.
    from local.cluster import AWS_NODE_READY_SECONDS
    from local.gaps.rollouts import ADDON_UPDATE_SECONDS
    from local.gaps.timing import CLOCK

    event = apply.StageInput(request=request_, migration_id="m-1")
    assert not apply.advance_stage("cni", event, target, ledger).done  # the update starts
    CLOCK.skip(ADDON_UPDATE_SECONDS)
    [entry] = [e for e in ledger.entries("m-1") if e.change.stage == "cni"]
    status = target.eks.describe_update(name=request_.cluster, updateId=entry.result["update_id"],
                                        addonName="vpc-cni")["update"]["status"]  # fmt: skip
    assert status == "Successful"
    assert not apply.advance_stage("cni", event, target, ledger).done
    polls = 1
    while not apply.advance_stage("cni", event, target, ledger).done:
        polls += 1
        assert polls < 20
        CLOCK.skip(AWS_NODE_READY_SECONDS)
    state = sim_cluster.states[(SMALL.account_id, SMALL.region, SMALL.cluster)]
    assert state.changed_at is None  # every aws-node pod runs the template with the flag


def test_the_add_on_update_names_the_resolve_conflicts_the_request_chose(
    small_estate: dict[str, Any], target: Clients, ledger: Ledger, aws_calls: AwsCalls
) -> None:
    # DOMAIN.md, VPC CNI: UpdateAddon takes an explicit resolveConflicts (EKS's own default is
    # NONE); the request chose OVERWRITE here, the plan's default being PRESERVE
    request = MigrationRequest(cluster=SMALL.cluster, account_id=SMALL.account_id,
                               region=SMALL.region, mode="apply", approval={"mode": "none"},
                               options=PlanOptions(resolve_conflicts="OVERWRITE"))  # fmt: skip
    preflight.run(preflight.PreflightInput(request=request, migration_id="m-1"), target, ledger)
    _advance("cni", request, target, ledger)
    [update] = aws_calls.params("UpdateAddon")
    assert update["resolveConflicts"] == "OVERWRITE"
    assert cni.egress_enabled(json.loads(update["configurationValues"]))


def test_compensation_reports_every_rollout_it_finds_part_way(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    aws_calls: AwsCalls,
) -> None:  # fmt: skip
    # Found by the fault matrix (small estate, point 40): the groups start together, and the
    # stage died at the last group's start, after a replacement group was created and an
    # instance refresh begun. AWS came to rest with new nodes and the run's journal still at
    # `intent`; compensation neither kept nor reported them, so the rollback said nothing of
    # nodes the run had replaced (and of a replacement group beside the old one).
    from tests.unit.estates import migrate

    def groups() -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for node in discover(target, request_.cluster).nodes:
            found.setdefault(node.nodegroup or "", set()).add(node.instance_id)
        return found

    before = groups()
    aws_calls.crash_when = lambda _, operation, __: operation == "CreateLaunchTemplateVersion"
    with pytest.raises(Crash):
        migrate(request_, target, ledger)
    event = apply.RollbackInput(request=request_, migration_id="m-1")
    reports = [apply.compensate(event, target, ledger)]
    while not reports[-1].done and len(reports) < 20:
        from local.gaps.rollouts import ADDON_UPDATE_SECONDS
        from local.gaps.timing import CLOCK

        CLOCK.skip(ADDON_UPDATE_SECONDS)
        reports.append(apply.compensate(event, target, ledger))
    report = reports[-1]
    assert report.done
    after = groups()
    # the groups whose nodes the run changed, by the name the plan gives them (a replacement
    # group stands for the group it replaces)
    names = {g.name for g in SMALL.nodegroups}
    changed = {
        group.removesuffix("-v6") if group.removesuffix("-v6") in names else group
        for group in set(before) | set(after)
        if before.get(group) != after.get(group)
    }
    assert changed, "the scenario needs a rollout that AWS carried out part way"
    rolls = {c.removeprefix("nodes:roll-nodegroup:") for c in report.kept if c.startswith("nodes:")}
    assert rolls == changed
    # and one that AWS left unfinished (old nodes still run beside new ones) says so
    unfinished = {g for g in changed if before.get(g, set()) & after.get(g, set())}
    assert unfinished == {"batch"}  # its replacement group is up, its old group not drained
    assert {c for c, why in report.why_kept.items() if "part way" in why} == {
        f"nodes:roll-nodegroup:{g}" for g in unfinished
    }


def _live_rollouts(target: Clients, cluster: str) -> list[str]:
    """Node groups and Auto Scaling groups AWS is still rolling."""
    live = []
    for group in target.eks.list_nodegroups(clusterName=cluster)["nodegroups"]:
        found = target.eks.describe_nodegroup(clusterName=cluster, nodegroupName=group)
        if found["nodegroup"]["status"] != "ACTIVE":
            live.append(group)
    asg = f"{cluster}-legacy-asg"
    refreshes = target.autoscaling.describe_instance_refreshes(AutoScalingGroupName=asg)
    if any(r["Status"] in ("Pending", "InProgress") for r in refreshes["InstanceRefreshes"]):
        live.append(asg)
    return live


LONG_STARTS = ("UpdateAddon", "CreateLaunchTemplateVersion", "UpdateNodegroupVersion",
               "CreateNodegroup", "UpdateNodegroupConfig", "StartInstanceRefresh")  # fmt: skip


def test_long_stages_crashed_after_each_start_finish_on_rerun_starting_nothing_twice(
    planned: str, target: Clients, ledger: Ledger, request_: MigrationRequest,
    aws_calls: AwsCalls,
) -> None:  # fmt: skip
    from tests.unit.estates import migrate

    # Given the Lambda dies right after AWS accepts the first call of each kind the cni and
    # nodes stages start (its answer lost), and the state machine runs the stage again
    crashes: list[str] = []
    pending = list(LONG_STARTS)

    def crash_on_first(service: str, operation: str, _: int) -> bool:
        if operation in pending:
            pending.remove(operation)
            crashes.append(operation)
            return True
        return False

    for _ in range(len(LONG_STARTS) + 1):
        aws_calls.crash_when = crash_on_first
        try:
            migrate(request_, target, ledger)
            break
        except Crash:
            continue
    assert sorted(crashes) == sorted(LONG_STARTS)
    # Then every node has IPv6, and each start AWS carried out is asked again only with the
    # same client token (EKS answers the same update), never as a second operation
    nodes = discover(target, request_.cluster).nodes
    assert nodes
    assert all(n.ipv6_addresses for n in nodes)
    for operation in ("UpdateAddon", "UpdateNodegroupVersion", "CreateNodegroup",
                      "UpdateNodegroupConfig"):  # fmt: skip
        tokens: dict[str, set[str]] = {}
        for params in aws_calls.params(operation):
            key = str(params.get("nodegroupName") or params.get("addonName")
                      or params.get("nodegroupName", params.get("name")))  # fmt: skip
            size = params.get("scalingConfig", {}).get("desiredSize")
            tokens.setdefault(f"{key}/{size}", set()).add(params["clientRequestToken"])
        assert tokens, operation
        assert all(len(t) == 1 for t in tokens.values()), (operation, tokens)
    asg = f"{SMALL.cluster}-legacy-asg"
    refreshes = target.autoscaling.describe_instance_refreshes(AutoScalingGroupName=asg)
    assert len(refreshes["InstanceRefreshes"]) == 1
    template = target.eks.describe_nodegroup(clusterName=request_.cluster, nodegroupName="system")[
        "nodegroup"
    ]["launchTemplate"]["id"]
    versions = target.ec2.describe_launch_template_versions(LaunchTemplateId=template)
    made = [v for v in versions["LaunchTemplateVersions"]
            if "v6migrate" in v.get("VersionDescription", "")]  # fmt: skip
    assert len(made) == 1
