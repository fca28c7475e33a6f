"""Fault injection and throttling for the embedded AWS (server side, so every client sees them).

- `arm(fail_at=N)`: the Nth mutating EC2 / Cloud WAN call from now on fails once with
  `InjectedFault` (not retryable): the stage fails, and compensation follows. With
  `services=ALL_SERVICES` the calls of every service the workflow changes count (EKS, Auto
  Scaling, Elastic Load Balancing too); with `after=True` the Nth call is carried out and only
  then answered with `InjectedCrash`: AWS accepted it, the function never learns it did (as
  when a Lambda dies between the call and journaling `applied`).
- `throttle(share, services=...)`: that share of the calls to each service answers as the
  service does when its request rate is passed (`THROTTLING`: its own code and HTTP status),
  by default every service the workflow's code calls; `local serve --throttle SHARE` sets it
  for any client.
- `buckets(True)`: EC2 and Step Functions throttle as they do, with token buckets per account
  and Region (`EC2_BUCKETS`, `SFN_BUCKETS`) refilled on the simulated clock, so a fast-forwarded
  wait refills them as the time it stands for would; `rates=` adds a bucket per account and
  Region for a service that publishes none (EKS, Auto Scaling) at the operator's figures;
  `local serve --throttle buckets [--rate SERVICE=TOKENS@PER_SECOND]` sets them for any client.
- `mutations`: the mutating calls seen since `arm()`, by action, in order.
- `count()` / `counted()`: every call the embedded AWS answers from then on, of every service
  (STS, DynamoDB, EventBridge and Step Functions included) in every account, by
  `<account> <service>:<Action>`: the figures of the benchmarks.
"""

from __future__ import annotations

import collections
import random
import threading
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse

MUTATING = (
    "Accept", "Allocate", "Assign", "Associate", "Attach", "Authorize", "Create", "Delete",
    "Detach", "Disable", "Disassociate", "Enable", "Modify", "Put", "Reject", "Release",
    "Replace", "Revoke", "Set", "Start", "Tag", "Unassign", "Untag", "Update",
)  # fmt: skip
SERVICES = ("ec2", "networkmanager")
ALL_SERVICES = ("ec2", "networkmanager", "eks", "autoscaling", "elbv2")
# What each service answers when a caller passes its request rate: error code, HTTP status.
# EC2: RequestLimitExceeded, 503 (EC2 API reference, request throttling; DOMAIN.md). EKS:
# ThrottlingException, 429; Auto Scaling: Throttling, 400 (DOMAIN.md, facts found by review).
# Network Manager: ThrottlingException, 429 (its API reference, common errors). STS, IAM and
# Elastic Load Balancing: Throttling, 400 ("Rate exceeded"). DynamoDB:
# ProvisionedThroughputExceededException, 400 (DynamoDB API reference: "the request was denied
# due to request throttling"). SSM: ThrottlingException, 400. Step Functions:
# ThrottlingException, 400 (its API reference, common errors): by buckets only (below), never
# by share, whose randomness would fail the interpreter's own calls. Lambda and EventBridge are
# left out: the state machine's interpreter calls them itself.
THROTTLING: dict[str, tuple[str, int]] = {
    "ec2": ("RequestLimitExceeded", 503),
    "eks": ("ThrottlingException", 429),
    "autoscaling": ("Throttling", 400),
    "networkmanager": ("ThrottlingException", 429),
    "elbv2": ("Throttling", 400),
    "sts": ("Throttling", 400),
    "iam": ("Throttling", 400),
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "ssm": ("ThrottlingException", 400),
    "stepfunctions": ("ThrottlingException", 400),
}
SHARE_THROTTLED = tuple(s for s in THROTTLING if s != "stepfunctions")


# EC2's request token buckets, per account and Region: (tokens, refill per second). Mutating
# actions 50 (5/s); Describe* and the other non-mutating ones 100 (20/s); DescribeInstances,
# DescribeNetworkInterfaces and DescribeSecurityGroups without a filter or ids 50 (10/s). A call
# takes a token from its category's bucket; with none left it is refused with
# RequestLimitExceeded (EC2 API reference, "Request throttling"; DOMAIN.md, "Throttling and
# retries"). Not simulated: the per-API buckets EC2 has moved to for some actions, resource
# rate limits (RunInstances' instances), and the rates of EKS and Auto Scaling (no bucket
# figures found in their references: an operator may set them, `rates=`).
EC2_BUCKETS: dict[str, tuple[int, float]] = {
    "mutating": (50, 5.0),
    "describe": (100, 20.0),
    "unfiltered": (50, 10.0),
}
# Step Functions' API buckets, per account and Region and per action: (tokens, refill per second)
# in US East (N. Virginia), US West (Oregon) and Europe (Ireland), then in every other Region.
# Step Functions developer guide, "Quotas": "Quotas related to API action throttling"
# (StartExecution, Standard workflows) and "Other quotas". An action it lists no figures for
# (the Map Run actions, RedriveExecution) is not throttled here. Express workflows'
# StartExecution (6,000 at 6,000/s) is not told apart: v6migrate's machines are Standard.
SFN_LARGE_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
SFN_BUCKETS: dict[str, tuple[tuple[int, float], tuple[int, float]]] = {
    "StartExecution": ((1300, 300.0), (800, 150.0)),
    "CreateActivity": ((100, 1.0), (100, 1.0)),
    "CreateStateMachine": ((100, 1.0), (100, 1.0)),
    "DeleteActivity": ((100, 1.0), (100, 1.0)),
    "DeleteStateMachine": ((100, 1.0), (100, 1.0)),
    "DescribeActivity": ((200, 1.0), (200, 1.0)),
    "DescribeExecution": ((300, 15.0), (250, 10.0)),
    "DescribeStateMachine": ((200, 20.0), (200, 20.0)),
    "DescribeStateMachineForExecution": ((200, 1.0), (200, 1.0)),
    "GetActivityTask": ((3000, 500.0), (1500, 300.0)),
    "GetExecutionHistory": ((400, 20.0), (400, 20.0)),
    "ListActivities": ((100, 10.0), (100, 5.0)),
    "ListExecutions": ((200, 5.0), (100, 2.0)),
    "ListStateMachines": ((100, 5.0), (100, 5.0)),
    "ListTagsForResource": ((100, 1.0), (100, 1.0)),
    "SendTaskFailure": ((3000, 500.0), (1500, 300.0)),
    "SendTaskHeartbeat": ((3000, 500.0), (1500, 300.0)),
    "SendTaskSuccess": ((3000, 500.0), (1500, 300.0)),
    "StopExecution": ((1000, 200.0), (500, 25.0)),
    "TagResource": ((200, 1.0), (200, 1.0)),
    "UntagResource": ((200, 1.0), (200, 1.0)),
    "UpdateStateMachine": ((100, 1.0), (100, 1.0)),
}
# moto's Step Functions interpreter makes its service integrations' calls (a `.sync` task's
# DescribeExecution polls, the child's StartExecution) over HTTP, signed with this access key
# (moto/stepfunctions/parser/asl/utils/boto_client.py). On AWS the service does that work itself
# (a `.sync` child's end comes as an event): those calls spend none of the caller's tokens.
INTERPRETER_KEY = "Credential=ak/"
NON_MUTATING = ("Describe", "Get", "List", "Search")
UNFILTERED = ("DescribeInstances", "DescribeNetworkInterfaces", "DescribeSecurityGroups")
# The parameters that narrow those three (a filter, or the resources named by id or name)
NARROWING = ("Filter.", "InstanceId.", "NetworkInterfaceId.", "GroupId.", "GroupName.")


def ec2_category(action: str, parameters: Any) -> str:
    """The bucket an EC2 call takes its token from."""
    if action in UNFILTERED and not any(str(k).startswith(NARROWING) for k in parameters):
        return "unfiltered"
    return "describe" if action.startswith(NON_MUTATING) else "mutating"


@dataclass
class _Bucket:
    tokens: float
    at: float

    def take(self, capacity: int, rate: float, now: float) -> bool:
        self.tokens = min(float(capacity), self.tokens + max(0.0, now - self.at) * rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Fault(ServiceException):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


@dataclass
class _State:
    armed: bool = False
    fail_at: int | None = None
    after: bool = False
    services: tuple[str, ...] = SERVICES
    throttle_share: float = 0.0
    throttled_services: tuple[str, ...] = SHARE_THROTTLED
    throttled_by: collections.Counter[str] = field(default_factory=collections.Counter)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    mutations: list[str] = field(default_factory=list)
    throttled: int = 0
    counting: bool = False
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    buckets_on: bool = False
    buckets: dict[tuple[str, str, str, str], _Bucket] = field(default_factory=dict)
    rates: dict[str, tuple[int, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


STATE = _State()
_installed = False


def arm(
    fail_at: int | None = None, *, after: bool = False, services: tuple[str, ...] = SERVICES
) -> None:
    with STATE.lock:
        STATE.armed = True
        STATE.fail_at = fail_at
        STATE.after = after
        STATE.services = services
        STATE.mutations = []


def disarm() -> None:
    with STATE.lock:
        STATE.armed = False
        STATE.fail_at = None


def throttle(share: float, seed: int = 7, services: tuple[str, ...] = SHARE_THROTTLED) -> None:
    """From now on, `share` of the calls to each of `services` is throttled (0 ends it)."""
    if not 0.0 <= share < 1.0:
        raise ValueError("the throttled share is at least 0 and below 1")
    unknown = set(services) - set(SHARE_THROTTLED)
    if unknown:
        raise ValueError(f"no throttling answer known for {sorted(unknown)}")
    with STATE.lock:
        STATE.throttle_share = share
        STATE.throttled_services = services
        STATE.rng = random.Random(seed)
        STATE.throttled = 0
        STATE.throttled_by = collections.Counter()


def buckets(on: bool, rates: dict[str, tuple[int, float]] | None = None) -> None:
    """The published token buckets from now on (full), or no longer; `rates` adds one bucket
    per account and Region, of (tokens, refill per second), for each service named."""
    rates = dict(rates or {})
    unknown = set(rates) - set(THROTTLING)
    if unknown:
        raise ValueError(f"no throttling answer known for {sorted(unknown)}")
    published = set(rates) & {"ec2", "stepfunctions"}
    if published:
        raise ValueError(f"{sorted(published)} throttle by their published buckets")
    for service, (tokens, rate) in rates.items():
        if tokens < 1 or rate <= 0:
            raise ValueError(f"{service}: a bucket holds at least 1 token and refills")
    with STATE.lock:
        STATE.buckets_on = on
        STATE.buckets = {}
        STATE.rates = rates if on else {}
        STATE.throttled = 0
        STATE.throttled_by = collections.Counter()


def bucket_of(
    service: str, action: str, region: str, parameters: Any
) -> tuple[str, int, float] | None:
    """The bucket a call takes its token from, (name, tokens, refill per second), if any."""
    if service == "ec2":
        category = ec2_category(action, parameters)
        return (category, *EC2_BUCKETS[category])
    if service == "stepfunctions":
        if action not in SFN_BUCKETS:
            return None
        large, other = SFN_BUCKETS[action]
        return (action, *(large if region in SFN_LARGE_REGIONS else other))
    if service in STATE.rates:
        return ("all", *STATE.rates[service])
    return None


def _out_of_tokens(response: BaseResponse, service: str) -> tuple[_Fault, int] | None:
    if not STATE.buckets_on:
        return None
    headers = getattr(response, "headers", None) or {}
    if INTERPRETER_KEY in str(headers.get("Authorization", "")):
        return None
    from local.gaps.timing import CLOCK

    region = str(response.region)
    found = bucket_of(
        service, response._get_action(), region, getattr(response, "querystring", {}) or {}
    )
    if found is None:
        return None
    category, capacity, rate = found
    key = (str(response.current_account), region, service, category)
    now = CLOCK.now()
    with STATE.lock:
        bucket = STATE.buckets.setdefault(key, _Bucket(float(capacity), now))
        if bucket.take(capacity, rate, now):
            return None
        STATE.throttled += 1
        STATE.throttled_by[service] += 1
    code, status = THROTTLING[service]
    return _Fault(code, "Request limit exceeded." if service == "ec2" else "Rate exceeded"), status


def count() -> None:
    """Count every call from now on (and forget what was counted before)."""
    with STATE.lock:
        STATE.counting = True
        STATE.calls = collections.Counter()


def counted() -> collections.Counter[str]:
    with STATE.lock:
        return collections.Counter(STATE.calls)


def _count(response: BaseResponse, service: str) -> None:
    if not STATE.counting:
        return
    try:
        account = str(response.current_account)
    except Exception:  # a request moto cannot attribute: counted all the same
        account = "unknown"
    with STATE.lock:
        STATE.calls[f"{account} {service}:{response._get_action()}"] += 1


def by_service(calls: collections.Counter[str]) -> dict[str, int]:
    """`<service>@<account>` -> calls, from what `counted()` returns, sorted."""
    found: collections.Counter[str] = collections.Counter()
    for key, number in calls.items():
        account, operation = key.split(" ", 1)
        found[f"{operation.split(':')[0]}@{account}"] += number
    return dict(sorted(found.items()))


def mutations() -> list[str]:
    with STATE.lock:
        return list(STATE.mutations)


def _throttled(service: str) -> tuple[_Fault, int] | None:
    """The service's throttling answer and its status, for this share of its calls."""
    with STATE.lock:
        if (
            STATE.throttle_share
            and service in STATE.throttled_services
            and STATE.rng.random() < STATE.throttle_share
        ):
            STATE.throttled += 1
            STATE.throttled_by[service] += 1
            code, status = THROTTLING[service]
            return _Fault(code, "Rate exceeded"), status
    return None


def _decide(service: str, action: str) -> tuple[_Fault | None, bool]:
    """The fault to answer with, and whether to carry the call out first."""
    with STATE.lock:
        if STATE.armed and service in STATE.services and action.startswith(MUTATING):
            STATE.mutations.append(f"{service}:{action}" if service not in SERVICES else action)
            if STATE.fail_at is not None and len(STATE.mutations) == STATE.fail_at:
                if STATE.after:
                    return _Fault(
                        "InjectedCrash", f"crash after mutating call {STATE.fail_at} (accepted)"
                    ), True
                return _Fault(
                    "InjectedFault", f"fault injected at mutating call {STATE.fail_at}"
                ), False
    return None, False


def _with_request_id(headers: dict[str, Any]) -> dict[str, Any]:
    """Every AWS answer carries its request's id, errors too: the JSON protocols in the
    `x-amzn-RequestId` header, which botocore puts in `ResponseMetadata.RequestId` (Step
    Functions' task states name it in their error's cause, and fail without it)."""
    if not any(str(k).lower() == "x-amzn-requestid" for k in headers):
        headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return headers


def install() -> None:
    global _installed
    if _installed:
        return
    original = BaseResponse.call_action
    # moto warns that an injected code is not in the service model: it is not meant to be.
    warnings.filterwarnings("ignore", message=r"Exception\(_Fault\)")

    def call_action(self: BaseResponse) -> Any:
        service = getattr(self, "service_name", "")
        _count(self, service)
        # EKS's authenticator checking a token calls STS from EKS's own account: the caller's
        # request rate is not spent on it (its call carries the token's x-k8s-aws-id header)
        headers = getattr(self, "headers", None)
        authenticator = (
            service == "sts"
            and headers is not None
            and "x-k8s-aws-id" in {str(k).lower() for k in headers.keys()}  # noqa: SIM118 (werkzeug's headers iterate as pairs)
        )
        throttled = (
            None if authenticator else (_throttled(service) or _out_of_tokens(self, service))
        )
        if throttled is not None:
            limit, status = throttled
            _, headers, body = self.serialized(ActionResult(limit))
            headers["status"] = status
            return status, _with_request_id(headers), body
        if service in ALL_SERVICES:
            fault, carry_out = _decide(service, self._get_action())
            if fault is not None:
                if carry_out:
                    original(self)
                code, headers, body = self.serialized(ActionResult(fault))
                headers["status"] = code
                return code, _with_request_id(headers), body
        return original(self)

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    _installed = True
