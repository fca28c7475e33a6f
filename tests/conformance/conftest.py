"""The embedded AWS held against AWS itself: each test drives one behaviour with plain boto3,
names the AWS reference it follows, and runs against two targets:

- `embedded`: `local.server.EmbeddedAws`, one per test worker, over HTTP as any client sees it;
- `account`: a real AWS account, only when `V6MIGRATE_CONFORMANCE_ACCOUNT` names it (the
  credentials and Region are the environment's; the run stops at once if they are another
  account's). Every resource a test makes is tagged `v6migrate-conformance` and deleted by it.
  Tests that need an EKS cluster use `V6MIGRATE_CONFORMANCE_CLUSTER` (an existing cluster the
  tests may add an update to), and those that make billed resources (a transit gateway)
  run only with `V6MIGRATE_CONFORMANCE_BILLED=1`; otherwise they are skipped there.

Nothing here imports the workflow: the answer of each test comes from the reference, so a
simulator that agrees with the workflow where AWS does not fails here.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

ACCOUNT = os.environ.get("V6MIGRATE_CONFORMANCE_ACCOUNT")
TAG = {"Key": "v6migrate-conformance", "Value": "true"}


@dataclass
class Target:
    name: str
    session: boto3.Session
    # An EKS cluster the tests may read and start an update on, if the target has one
    cluster: str | None = None
    billed: bool = False
    _cleanup: list[Callable[[], Any]] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return self.session.client(service)  # type: ignore[call-overload]

    def later(self, undo: Callable[[], Any]) -> None:
        """Undo this when the test ends (last made, first undone)."""
        self._cleanup.append(undo)

    def clean(self) -> None:
        failed = []
        while self._cleanup:
            undo = self._cleanup.pop()
            try:
                undo()
            except ClientError as error:  # best effort: what stays is tagged, to find by hand
                failed.append(str(error))
        if failed and self.name == "account":
            warnings.warn("left in the account: " + "; ".join(failed), stacklevel=1)

    def wait(self, seconds: float) -> None:
        """Let time pass as a polling client does: on AWS, sleep; on the embedded AWS, move
        its clock on by as much (over HTTP, as the seeder does), so a transition of a minute
        is polled through without a minute's wait."""
        if self.name == "account":
            time.sleep(seconds)
            return
        endpoint = self.session.client("sts").meta.endpoint_url
        request = urllib.request.Request(
            endpoint.rstrip("/") + "/moto-api/v6migrate/clock",
            data=json.dumps({"skip": seconds}).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def until(self, check: Callable[[], Any], what: str, timeout: float = 600.0) -> Any:
        """Poll until `check` answers truthy: first after half a second, doubling up to 15 s,
        for at most `timeout` seconds of the target's time."""
        waited = 0.0
        interval = 0.5
        while True:
            value = check()
            if value:
                return value
            if waited > timeout:
                raise AssertionError(f"{what}: not seen within {timeout}s")
            self.wait(interval)
            waited += interval
            interval = min(interval * 2, 15.0)


@pytest.fixture(scope="session")
def _embedded() -> Iterator[Any]:
    from local.server import EmbeddedAws

    with EmbeddedAws(page_size=None) as server:
        yield server


@pytest.fixture(scope="session")
def _embedded_cluster(_embedded: Any) -> str:
    """A cluster with the VPC CNI add-on and one managed node group, nothing around it."""
    from local.seed import EstateSpec, NodegroupSpec, seed

    spec = EstateSpec(
        region=_embedded.region, cluster="conformance", transit_gateway=False, peering=False,
        cloud_wan=False, edges=False, nodegroups=(NodegroupSpec(name="workers", nodes=1),),
    )  # fmt: skip
    seed(spec, _embedded.session())
    return spec.cluster


def _account_session() -> boto3.Session:
    session = boto3.Session()
    found = session.client("sts").get_caller_identity()["Account"]
    if found != ACCOUNT:
        pytest.exit(
            f"V6MIGRATE_CONFORMANCE_ACCOUNT is {ACCOUNT} but the credentials are account {found}",
            returncode=2,
        )
    return session


@pytest.fixture(params=["embedded", "account"])
def aws(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "account":
        if not ACCOUNT:
            pytest.skip("no V6MIGRATE_CONFORMANCE_ACCOUNT: the real account is not driven")
        target = Target(
            "account", _account_session(),
            cluster=os.environ.get("V6MIGRATE_CONFORMANCE_CLUSTER"),
            billed=os.environ.get("V6MIGRATE_CONFORMANCE_BILLED") == "1",
        )  # fmt: skip
    else:
        from local.seed import target_session

        server = request.getfixturevalue("_embedded")
        wants_cluster = "cluster" in request.fixturenames
        cluster = request.getfixturevalue("_embedded_cluster") if wants_cluster else None
        # The account the estates are seeded in, reached as any client would
        session = target_session(server.region, base=server.session())
        target = Target("embedded", session, cluster=cluster, billed=True)
    try:
        yield target
    finally:
        target.clean()


@pytest.fixture
def cluster(aws: Target) -> str:
    if aws.cluster is None:
        pytest.skip("no V6MIGRATE_CONFORMANCE_CLUSTER for this account")
    return aws.cluster


@pytest.fixture
def billed(aws: Target) -> None:
    if not aws.billed:
        pytest.skip("billed resources: V6MIGRATE_CONFORMANCE_BILLED=1 to make them")


def error_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    """The error code and HTTP status AWS answered."""
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def tags(kind: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [TAG]}]


@pytest.fixture
def vpc(aws: Target) -> dict[str, Any]:
    """A VPC with an Amazon-provided /56, and one subnet without IPv6 yet."""
    ec2 = aws.client("ec2")
    made = ec2.create_vpc(
        CidrBlock="10.91.0.0/16", AmazonProvidedIpv6CidrBlock=True,
        TagSpecifications=tags("vpc"),
    )["Vpc"]  # fmt: skip
    vpc_id = made["VpcId"]
    aws.later(lambda: ec2.delete_vpc(VpcId=vpc_id))

    def block() -> str | None:
        found = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        for a in found.get("Ipv6CidrBlockAssociationSet", []):
            if a["Ipv6CidrBlockState"]["State"] == "associated":
                return str(a["Ipv6CidrBlock"])
        return None

    block56 = aws.until(block, f"the /56 of {vpc_id}")
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    subnet = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock="10.91.1.0/24", AvailabilityZone=zone,
        TagSpecifications=tags("subnet"),
    )["Subnet"]["SubnetId"]  # fmt: skip
    aws.later(lambda: ec2.delete_subnet(SubnetId=subnet))
    return {"vpc_id": vpc_id, "block": block56, "subnet": subnet, "zone": zone}
