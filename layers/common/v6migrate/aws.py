"""AWS access in one place: a session per target account, clients with standard retries.

The same code runs on AWS and in the embedded AWS: boto3 reads `AWS_ENDPOINT_URL` from the
environment, and nothing here knows which one it talks to.
"""

from __future__ import annotations

import os
import re
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Literal

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from v6migrate.errors import InputError, translate

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_networkmanager import NetworkManagerClient
    from mypy_boto3_sts import STSClient

# Cloud WAN's API lives in one home Region whatever the attachment's Region.
NETWORK_MANAGER_REGION = "us-west-2"


ENV_PREFIX = "V6MIGRATE_"


class Settings(BaseModel):
    """Configuration from the environment (template.yaml Globals, or the CLI's shell): each field
    from `V6MIGRATE_<FIELD>`, validated (and coerced from text) by pydantic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_role_name: str = "v6migrate-target"
    # The name of the SSM SecureString that holds the external id the target role requires:
    # the id itself is never in the environment, the template or a log.
    external_id_parameter: str | None = None
    # Deployed, the workflow acts in its own account through the target role too (deployed
    # there as everywhere), so its functions hold no write of their own; the CLI, run by an
    # operator already in the account, uses the operator's credentials there.
    assume_in_own_account: bool = False
    ledger_table: str = "v6migrate-ledger"
    event_bus_name: str = "v6migrate"
    state_machine_arn: str | None = None
    wave_state_machine_arn: str | None = None
    # Where the API keeps the waves' schedules, and the role EventBridge Scheduler starts them as
    wave_schedule_group: str | None = None
    wave_scheduler_role_arn: str | None = None
    max_attempts: int = 8
    poll_seconds: float = 2.0
    poll_timeout_seconds: float = 240.0
    # The Slack signing secret's name in Secrets Manager (the api function's Slack callback)
    slack_signing_secret: str | None = None
    # The SSM parameter with the Teams confirmation page's sign-in settings (the api function)
    sign_in_parameter: str | None = None
    # The SSM parameter with the platform's approval policy (policy.py)
    approval_policy_parameter: str | None = None
    # Where a Slack callback's response_url may point: Slack's host
    slack_response_prefix: str = "https://hooks.slack.com/"


@cache
def settings() -> Settings:
    # A plain model read from os.environ: pydantic-settings cost a tenth of a second of every
    # cold start for this alone.
    names = Settings.model_fields
    found = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in os.environ.items()
        # an empty variable is an unset one (a template parameter left empty)
        if key.upper().startswith(ENV_PREFIX)
        and key[len(ENV_PREFIX) :].lower() in names
        and value != ""
    }
    return Settings.model_validate(found)


def retries(mode: Literal["standard", "adaptive"] = "standard") -> Config:
    """botocore still defaults to the `legacy` retry mode (DOMAIN.md, throttling): be explicit.

    `adaptive` (standard's retries plus a client-side rate that slows to what the service
    refuses) for a client that makes many calls against one bucket in a row, such as a wave's
    report reading hundreds of runs: with standard retries alone, every throttled call draws on
    the client's retry quota (5 of 500 a retry, refunded only in part), which runs out and then
    fails the next refused call (bench/report_reads.py)."""
    return Config(
        retries={"mode": mode, "max_attempts": settings().max_attempts},
        user_agent_extra="v6migrate/0.1",
    )


class _OncePaths(list[str]):
    """A loader's search paths: boto3 appends its own data folder once per session it makes."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@cache
def botocore_loader() -> botocore.loaders.Loader:
    """The botocore data loader every session of the process shares (it caches what it parses)."""
    return botocore.loaders.Loader(extra_search_paths=_OncePaths())


def new_session(**kwargs: Any) -> boto3.Session:
    """A boto3 session (same arguments) whose service models come from `botocore_loader()`.

    Each invocation assumes a role per target account, so makes new sessions; with a loader of
    their own, each would parse botocore's JSON models (endpoints, every service it makes a
    client for) again: about a tenth of a second per client, every invocation.
    """
    core = botocore.session.Session()
    core.register_component("data_loader", botocore_loader())
    return boto3.Session(botocore_session=core, **kwargs)


class Clients:
    """The clients discovery and the changes use, all bound to one account and Region.

    Each is made on first use and kept: a stage or a peer account's read needs two or three of
    the seven, and making a client (its class, its event hooks) costs more than a call.
    """

    def __init__(
        self, session: boto3.Session, account_id: str, region: str, partition: str = "aws"
    ) -> None:
        self.session = session
        self.account_id = account_id
        self.region = region
        self.partition = partition  # from the caller's ARN: aws, aws-cn, aws-us-gov

    @cached_property
    def ec2(self) -> EC2Client:
        return self.session.client("ec2", region_name=self.region, config=retries())

    @cached_property
    def eks(self) -> EKSClient:
        return self.session.client("eks", region_name=self.region, config=retries())

    @cached_property
    def autoscaling(self) -> AutoScalingClient:
        return self.session.client("autoscaling", region_name=self.region, config=retries())

    @cached_property
    def networkmanager(self) -> NetworkManagerClient:
        return self.session.client(
            "networkmanager", region_name=NETWORK_MANAGER_REGION, config=retries()
        )

    @cached_property
    def elbv2(self) -> ElasticLoadBalancingv2Client:
        return self.session.client("elbv2", region_name=self.region, config=retries())

    @cached_property
    def sts(self) -> STSClient:
        return self.session.client("sts", region_name=self.region, config=retries())

    @cached_property
    def iam(self) -> IAMClient:
        return self.session.client("iam", config=retries())


def partition_of(arn: str) -> str:
    """The partition an ARN names (`arn:<partition>:...`)."""
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" else "aws"


def _caller(session: boto3.Session) -> tuple[str, str]:
    """The caller's account and partition."""
    sts = session.client("sts", config=retries())
    try:
        found = sts.get_caller_identity()
    except ClientError as error:
        raise translate(error, "sts:GetCallerIdentity") from error
    return str(found["Account"]), partition_of(str(found["Arn"]))


def session_for(
    account_id: str | None,
    region: str,
    *,
    role_name: str | None = None,
    external_id: str | None = None,
    base: boto3.Session | None = None,
) -> tuple[boto3.Session, str]:
    """A session in the target account, by assuming the target role when it is another one.

    Returns the session and the account id it acts in.
    """
    session, account, _ = _target_session(
        account_id, region, role_name=role_name, external_id=external_id, base=base
    )
    return session, account


def session_name(migration_id: str | None) -> str:
    """The target role's session name for a run: `v6m-<migration id>`, so that the target
    account's CloudTrail ties every call to the run that made it (and the run's record, to who
    asked for it). STS takes 2 to 64 of `[\\w+=,.@-]`; an execution name is of those."""
    if not migration_id:
        return "v6migrate"
    return ("v6m-" + re.sub(r"[^\w+=,.@-]", "-", migration_id))[:64]


def _target_session(
    account_id: str | None,
    region: str,
    *,
    role_name: str | None = None,
    external_id: str | None = None,
    base: boto3.Session | None = None,
    migration_id: str | None = None,
    read_only: bool = False,
) -> tuple[boto3.Session, str, str]:
    """`session_for`, and the partition (the caller's: an assumed role is in the same one)."""
    base = base or new_session(region_name=region)
    current, partition = _caller(base)
    config = settings()
    if account_id is None:
        account_id = current
    if account_id == current and not config.assume_in_own_account:
        return base, current, partition
    # a dry run's and a wave's planning: the target account's read-only role (`<name>-read`)
    role = role_name or config.target_role_name + ("-read" if read_only else "")
    kwargs: dict[str, Any] = {
        "RoleArn": f"arn:{partition}:iam::{account_id}:role/{role}",
        "RoleSessionName": session_name(migration_id),
    }
    external = external_id or stored_external_id(base)
    if external:
        kwargs["ExternalId"] = external
    sts = base.client("sts", config=retries())
    try:
        credentials = sts.assume_role(**kwargs)["Credentials"]
    except ClientError as error:
        raise translate(error, f"sts:AssumeRole into {account_id}") from error
    session = new_session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )
    return session, account_id, partition


_EXTERNAL_ID_MAX_AGE = 300.0  # seconds a read of the parameter serves warm invocations


_providers: dict[tuple[str | None, str], Any] = {}


def _parameters(base: boto3.Session) -> Any:
    """A Powertools SSM provider per caller, kept for the process: its cache serves the warm
    invocations that follow."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    # the parameter lives where the workflow runs (Lambda's AWS_REGION, the operator's default
    # Region), whichever Region the cluster is in
    home = new_session().region_name or base.region_name
    credentials = base.get_credentials()
    key = (home, credentials.access_key if credentials else "")
    if key not in _providers:
        client = base.client("ssm", region_name=home, config=retries())
        _providers[key] = SSMProvider(boto3_client=client)
    return _providers[key]


def stored_external_id(base: boto3.Session) -> str | None:
    """The external id, read (decrypted) from the SSM parameter the settings name, or None when
    none is named. Read in the workflow's own account, with its own credentials."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    name = settings().external_id_parameter
    if not name:
        return None
    try:
        value = _parameters(base).get(name, decrypt=True, max_age=_EXTERNAL_ID_MAX_AGE)
    except GetParameterError as error:
        cause = error.__cause__
        if isinstance(cause, ClientError):
            raise translate(cause, f"ssm:GetParameter {name} (the external id)") from error
        raise InputError(f"the external id parameter {name} cannot be read: {error}") from error
    return str(value)


def clients_for(
    session: boto3.Session, account_id: str, region: str, partition: str | None = None
) -> Clients:
    if partition is None:
        partition = _caller(session)[1]
    return Clients(session, account_id, region, partition)


def target_clients(
    account_id: str | None, region: str, migration_id: str | None = None, read_only: bool = False
) -> Clients:
    """Clients in the target account, as the run `migration_id` (its session name); through
    the read-only role for what only reads (a dry run, a wave's planning)."""
    session, account, partition = _target_session(
        account_id, region, migration_id=migration_id, read_only=read_only
    )
    return clients_for(session, account, region, partition)
