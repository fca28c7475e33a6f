"""Deploy template.yaml into the embedded AWS, as `sam deploy` would into an account.

Tables, the event bus, one Lambda function per AWS::Serverless::Function (its code runs
in-process, see runtime.py) and the state machines with their DefinitionSubstitutions. Also a
local tap that AWS would not have: an SQS queue subscribed to the bus, so the demo and the
tests can read the events the workflow emitted.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from local import runtime
from local.execute_api import EXECUTE_API, RestApi, Route
from local.template import Resolver, load
from v6migrate.aws import new_session

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = PROJECT_ROOT / "template.yaml"


EXTERNAL_ID_PARAMETER = "/v6migrate/external-id"


def _trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def local_parameters(log_level: str = "INFO") -> dict[str, str]:
    """Stack parameters for the embedded AWS: where its external id is kept, and fast polling
    (its transitional states settle in a fraction of a second)."""

    # WaitSeconds: the state machine's Wait between polls, fast-forwarded here (it moves the
    # simulated clock of long operations on; see local.gaps.timing).
    return {
        "ExternalIdParameterName": EXTERNAL_ID_PARAMETER,
        "SlackSigningSecretName": SLACK_SIGNING_SECRET_NAME,
        "LogLevel": log_level,
        "PollSeconds": "0.05",
        "WaitSeconds": "60",
    }


@dataclass
class Deployment:
    stack_name: str
    region: str
    account_id: str
    outputs: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    state_machines: dict[str, str] = field(default_factory=dict)
    event_queue_url: str = ""


def _store_external_id(session: boto3.Session, name: str) -> None:
    """What an operator does once per tooling account before deploying (docs/runbook.md): keep
    the external id in a SecureString parameter, which the functions read at run time."""
    from local.seed import EXTERNAL_ID

    session.client("ssm").put_parameter(
        Name=name, Value=EXTERNAL_ID, Type="SecureString", Overwrite=True,
        Description="the external id the v6migrate target role requires",
    )  # fmt: skip


# The embedded stack's approval policy unless a test says otherwise: a sandbox's, where the
# requester chooses (runs without approval, self-approval, approvers the request names) and
# every caller may act on every account, as before the platform's policy existed. A deployed
# stack without one is the strictest.
SANDBOX_APPROVAL_POLICY: dict[str, Any] = {
    "default": {"allow_without_approval": True, "allow_self_approval": True,
                "approvers_from_request": True},
    "scopes": [{"principals": ["*"], "accounts": ["*"]}],
}  # fmt: skip


def store_approval_policy(
    session: boto3.Session, stack_name: str, policy: dict[str, Any] | None
) -> None:
    """What the platform team does (docs/runbook.md): keep the approval policy in the stack's
    parameter, or (None) remove it."""
    ssm = session.client("ssm")
    name = f"/v6migrate/{stack_name}/approval-policy"
    if policy is None:
        with contextlib.suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=name)
        return
    ssm.put_parameter(Name=name, Value=json.dumps(policy), Type="String", Overwrite=True)


# The embedded Slack app's signing secret: where an operator keeps theirs (docs/runbook.md)
SLACK_SIGNING_SECRET_NAME = "v6migrate/chat/slack-signing-secret"  # noqa: S105 (a name, not the secret)


def _store_slack_signing_secret(session: boto3.Session, name: str) -> None:
    """What an operator does once to take decisions from Slack: keep the Slack app's signing
    secret in Secrets Manager. Here a random one (the simulated Slack signs with it)."""
    import secrets

    client = session.client("secretsmanager")
    with contextlib.suppress(client.exceptions.ResourceExistsException):
        client.create_secret(Name=name, SecretString=secrets.token_hex(16))


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "# code runs in-process in the embedded AWS\n")
    return buffer.getvalue()


def _role(
    iam: Any, name: str, trust: dict[str, Any], statements: list[dict[str, Any]], path: str = "/"
) -> str:
    try:
        arn = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    if statements:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="inline",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
    return str(arn)


def _statements(policies: list[Any]) -> list[dict[str, Any]]:
    """Inline statements of a SAM Policies list (policy templates are recorded by name)."""
    statements: list[dict[str, Any]] = []
    for policy in policies or []:
        if isinstance(policy, dict) and "Statement" in policy:
            statements.extend(policy["Statement"])
    return statements


def _queue_attributes(
    session: boto3.Session, resources: dict[str, Any], resolver: Resolver,
    kinds: tuple[str, ...] = ("AWS::SQS::Queue",),
) -> None:  # fmt: skip
    """Each queue's attributes once every queue exists (a redrive policy names another one),
    and, asked for AWS::SQS::QueuePolicy once what they name exists (a rule that sends its
    dead letters there), its queue policy (kept, not evaluated: the embedded AWS checks no
    resource policy)."""
    sqs = session.client("sqs")
    for logical, resource in resources.items():
        if resource["Type"] not in kinds:
            continue
        properties = resolver.resolve(resource.get("Properties", {}))
        if resource["Type"] == "AWS::SQS::Queue":
            attributes = {
                key: json.dumps(properties[key]) if isinstance(properties[key], dict)
                else str(properties[key]).lower() if isinstance(properties[key], bool)
                else str(properties[key])
                for key in ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy",
                            "SqsManagedSseEnabled")
                if key in properties
            }  # fmt: skip
            if attributes:
                sqs.set_queue_attributes(QueueUrl=resolver.refs[logical], Attributes=attributes)
        elif resource["Type"] == "AWS::SQS::QueuePolicy":
            for url in properties["Queues"]:
                sqs.set_queue_attributes(
                    QueueUrl=url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])}
                )


def deploy(
    session: boto3.Session | None = None,
    stack_name: str = "v6migrate",
    template_path: Path = TEMPLATE,
    parameters: dict[str, str] | None = None,
    approval_policy: dict[str, Any] | None = SANDBOX_APPROVAL_POLICY,
) -> Deployment:
    """Deploy `template_path` as `stack_name`, after what an operator does first (the external
    id, the Slack secret, the platform's approval policy: none given, none stored, which is the
    strictest)."""
    session = session or new_session()
    region = session.region_name or "us-east-1"
    account = session.client("sts").get_caller_identity()["Account"]
    template = load(template_path)
    resolver = Resolver(template, stack_name, region, account, parameters=dict(parameters or {}))
    resources: dict[str, Any] = template["Resources"]
    _store_external_id(session, resolver.parameters["ExternalIdParameterName"])
    store_approval_policy(session, stack_name, approval_policy)
    if resolver.parameters.get("SlackSigningSecretName"):
        _store_slack_signing_secret(session, resolver.parameters["SlackSigningSecretName"])
    result = Deployment(stack_name=stack_name, region=region, account_id=account)
    iam = session.client("iam")
    apis: dict[str, RestApi] = {}
    iam_by_default: dict[str, bool] = {}
    pools: dict[str, str] = {}  # user pools by logical id (Cognito authorisers)
    authorizers: dict[tuple[str, str], str] = {}  # (api, authoriser) -> the user pool's logical id

    for logical, resource in resources.items():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            name = f"{stack_name}-{logical}"
            dynamodb = session.client("dynamodb")
            kwargs = {
                k: properties[k]
                for k in ("AttributeDefinitions", "KeySchema", "BillingMode")
                if k in properties
            }
            with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
                dynamodb.create_table(TableName=name, **kwargs)
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
            resolver.refs[logical] = name
            resolver.attributes[(logical, "Arn")] = (
                f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            )
        elif kind == "AWS::Events::EventBus":
            name = resolver.resolve(properties["Name"])
            events = session.client("events")
            try:
                arn = events.create_event_bus(Name=name)["EventBusArn"]
            except events.exceptions.ResourceAlreadyExistsException:
                arn = events.describe_event_bus(Name=name)["Arn"]
            resolver.refs[logical] = name
            resolver.attributes[(logical, "Arn")] = arn
            resolver.attributes[(logical, "Name")] = name
            result.event_queue_url = _event_tap(session, name)
        elif kind == "AWS::Logs::LogGroup":
            name = resolver.resolve(properties["LogGroupName"])
            resolver.refs[logical] = name
            resolver.attributes[(logical, "Arn")] = (
                f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
            )
        elif kind == "AWS::SQS::Queue":
            sqs = session.client("sqs")
            name = resolver.resolve(properties.get("QueueName", f"{stack_name}-{logical}"))
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            resolver.refs[logical] = url
            resolver.attributes[(logical, "Arn")] = f"arn:aws:sqs:{region}:{account}:{name}"
            resolver.attributes[(logical, "QueueName")] = name
        elif kind == "AWS::Cognito::UserPool":
            idp = session.client("cognito-idp")
            name = resolver.resolve(properties["UserPoolName"])
            pool = idp.create_user_pool(
                PoolName=name,
                Schema=[{k: v for k, v in a.items() if k in ("Name", "AttributeDataType",
                                                             "Mutable")}
                        for a in properties.get("Schema", [])],
            )["UserPool"]  # fmt: skip
            resolver.refs[logical] = pool["Id"]
            resolver.attributes[(logical, "Arn")] = pool["Arn"]
            pools[logical] = pool["Id"]
        elif kind == "AWS::Cognito::UserPoolClient":
            properties = resolver.resolve(
                {k: v for k, v in properties.items() if k in ("UserPoolId", "ClientName")}
            )
            client = session.client("cognito-idp").create_user_pool_client(
                UserPoolId=properties["UserPoolId"], ClientName=properties["ClientName"],
                ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"],  # the tests sign in so
            )["UserPoolClient"]  # fmt: skip
            resolver.refs[logical] = client["ClientId"]
        elif kind == "AWS::SNS::Topic":
            arn = session.client("sns").create_topic(Name=f"{stack_name}-{logical}")["TopicArn"]
            resolver.refs[logical] = arn
            resolver.attributes[(logical, "TopicArn")] = arn
        elif kind == "AWS::Serverless::Api":
            # moto keeps the REST API (its id); the embedded execute-api serves its routes
            name = resolver.resolve(properties.get("Name", f"{stack_name}-{logical}"))
            apigateway = session.client("apigateway")
            same = [a["id"] for a in apigateway.get_rest_apis()["items"] if a["name"] == name]
            api_id = same[0] if same else apigateway.create_rest_api(name=name)["id"]
            iam_default = properties.get("Auth", {}).get("DefaultAuthorizer") == "AWS_IAM"
            for name, authorizer in properties.get("Auth", {}).get("Authorizers", {}).items():
                arn = authorizer.get("UserPoolArn", {})
                if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                    target = arn["Fn::GetAtt"]
                    authorizers[(logical, name)] = (
                        target[0] if isinstance(target, list) else target.split(".")[0]
                    )
            apis[logical] = RestApi(api_id, account, region, properties["StageName"])
            apis[logical].routes.clear()
            iam_by_default[logical] = iam_default
            resolver.refs[logical] = api_id
        elif kind == "AWS::Serverless::LayerVersion":
            # The layer's package is importable in-process already (pip install -e .).
            resolver.refs[logical] = f"arn:aws:lambda:{region}:{account}:layer:{logical}:1"

    # Before the functions, which name them: the waves' schedule group, and the role Scheduler
    # starts waves with (its policy names the wave state machine by its ARN)
    for logical, resource in resources.items():
        kind = resource["Type"]
        if kind == "AWS::Scheduler::ScheduleGroup":
            name = resolver.resolve(resource["Properties"]["Name"])
            scheduler = session.client("scheduler")
            with contextlib.suppress(scheduler.exceptions.ConflictException):
                scheduler.create_schedule_group(Name=name)
            resolver.refs[logical] = name
        elif kind == "AWS::IAM::Role":
            properties = resolver.resolve(resource["Properties"])
            statements = [
                s for policy in properties.get("Policies", [])
                for s in policy["PolicyDocument"]["Statement"]
            ]  # fmt: skip
            arn = _role(iam, f"{stack_name}-{logical}", properties["AssumeRolePolicyDocument"],
                        statements, path=properties.get("Path", "/"))  # fmt: skip
            resolver.refs[logical] = f"{stack_name}-{logical}"
            resolver.attributes[(logical, "Arn")] = arn

    _queue_attributes(session, resources, resolver)
    globals_ = template.get("Globals", {}).get("Function", {})
    lambda_client = session.client("lambda")
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = {**globals_, **resource.get("Properties", {})}
        environment = {
            **resolver.resolve(globals_.get("Environment", {}).get("Variables", {})),
            **resolver.resolve(
                resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
            ),
        }
        name = (
            resolver.resolve(properties["FunctionName"])
            if "FunctionName" in resource.get("Properties", {})
            else f"{stack_name}-{logical}"
        )
        role = _role(
            iam,
            name,
            _trust("lambda.amazonaws.com"),
            resolver.resolve(_statements(properties.get("Policies", []))),
            path=str(resolver.resolve(properties.get("RolePath", "/"))),
        )
        try:
            arn = lambda_client.create_function(
                FunctionName=name,
                Runtime=properties["Runtime"],
                Role=role,
                Handler=properties["Handler"],
                Code={"ZipFile": _zip()},
                Timeout=int(properties.get("Timeout", 3)),
                MemorySize=int(properties.get("MemorySize", 128)),
                Architectures=properties.get("Architectures", ["x86_64"]),
                Environment={"Variables": environment},
            )["FunctionArn"]
        except lambda_client.exceptions.ResourceConflictException:
            arn = lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        runtime.register(
            runtime.FunctionSpec(
                name=name,
                arn=arn,
                code_dir=PROJECT_ROOT / properties["CodeUri"],
                handler=properties["Handler"],
                environment={k: str(v) for k, v in environment.items()},
                memory_mb=int(properties.get("MemorySize", 128)),
                timeout_s=int(properties.get("Timeout", 3)),
                role_arn=role,
            )
        )
        resolver.refs[logical] = name
        resolver.attributes[(logical, "Arn")] = arn
        result.functions[logical] = arn
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "Api":
                continue
            api_logical = event["Properties"]["RestApiId"]["Ref"]
            auth = event["Properties"].get("Auth", {}).get("Authorizer")
            pool = authorizers.get((api_logical, str(auth)))
            apis[api_logical].routes.append(
                Route(
                    method=event["Properties"]["Method"].upper(),
                    resource=event["Properties"]["Path"],
                    function=arn,
                    iam=auth == "AWS_IAM" or (auth is None and iam_by_default[api_logical]),
                    user_pool=pools[pool] if pool else None,
                )
            )
    for api in apis.values():
        EXECUTE_API.register(api)
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":  # Lambda polls (moto: on send)
            mapping = resolver.resolve(resource["Properties"])
            lambda_client.create_event_source_mapping(
                EventSourceArn=mapping["EventSourceArn"],
                FunctionName=result.functions.get(mapping["FunctionName"], mapping["FunctionName"]),
                BatchSize=int(mapping.get("BatchSize", 10)),
            )  # fmt: skip

    events = session.client("events")
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        # The rules on the bus (notify, the alarm topic); the targets' permissions (a Lambda
        # permission, a topic policy) are not evaluated in the embedded AWS
        properties = resolver.resolve(resource["Properties"])
        name = f"{stack_name}-{logical}"
        events.put_rule(
            Name=name, EventBusName=properties["EventBusName"],
            EventPattern=json.dumps(properties["EventPattern"]),
            Description=properties.get("Description", ""),
        )  # fmt: skip
        events.put_targets(
            Rule=name, EventBusName=properties["EventBusName"],
            Targets=[{"Id": t["Id"], "Arn": t["Arn"]} for t in properties["Targets"]],
        )  # fmt: skip
        # Ref of a rule on a custom bus is `<bus>|<rule>`, not the rule's name (CloudFormation
        # answers so; aws-cloudformation/cloudformation-coverage-roadmap issue 1131)
        bus = properties["EventBusName"]
        resolver.refs[logical] = name if bus in ("default", "") else f"{bus}|{name}"
        resolver.attributes[(logical, "Arn")] = (
            f"arn:aws:events:{region}:{account}:rule/{bus}/{name}"
        )

    _queue_attributes(session, resources, resolver, ("AWS::SQS::QueuePolicy",))
    sfn = session.client("stepfunctions")
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        properties = resource["Properties"]
        definition = (PROJECT_ROOT / properties["DefinitionUri"]).read_text()
        for key, value in resolver.resolve(properties.get("DefinitionSubstitutions", {})).items():
            definition = definition.replace("${" + key + "}", str(value))
        name = resolver.resolve(properties.get("Name", f"{stack_name}-{logical}"))
        role = _role(iam, name, _trust("states.amazonaws.com"), [])
        existing = {
            m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
        }
        if name in existing:
            arn = existing[name]
            sfn.update_state_machine(stateMachineArn=arn, definition=definition)
        else:
            arn = sfn.create_state_machine(
                name=name,
                definition=definition,
                roleArn=role,
                type=properties.get("Type", "STANDARD"),
                tracingConfiguration={"enabled": True},
            )["stateMachineArn"]
        resolver.refs[logical] = arn
        result.state_machines[logical] = arn

    # The parameters last: they name what the rest made (the API's URL, the sign-in settings)
    for logical, resource in resources.items():
        if resource["Type"] == "AWS::SSM::Parameter":
            properties = resolver.resolve(resource["Properties"])
            session.client("ssm").put_parameter(
                Name=properties["Name"], Value=_embedded_hosts(str(properties["Value"]), apis),
                Type=properties.get("Type", "String"), Overwrite=True,
            )  # fmt: skip
            resolver.refs[logical] = properties["Name"]

    cloudwatch = session.client("cloudwatch")
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resolver.resolve(resource["Properties"])
        name = properties.get("AlarmName", f"{stack_name}-{logical}")
        fields = ("Namespace", "MetricName", "Dimensions", "Statistic", "Period",
                  "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData",
                  "AlarmActions", "AlarmDescription")  # fmt: skip
        cloudwatch.put_metric_alarm(
            AlarmName=name, **{k: properties[k] for k in fields if k in properties}
        )
        resolver.refs[logical] = name
        resolver.attributes[(logical, "Arn")] = (
            f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
        )

    for key, output in template.get("Outputs", {}).items():
        result.outputs[key] = _embedded_hosts(str(resolver.resolve(output["Value"])), apis)
    return result


def _embedded_hosts(value: str, apis: dict[str, RestApi]) -> str:
    """`value` with each API's host on AWS replaced by the embedded execute-api that stands for
    it (an output, a parameter that names the API's URL)."""
    for api in apis.values():
        host = f"https://{api.api_id}.execute-api.{api.region}.amazonaws.com"
        value = value.replace(host, f"{EXECUTE_API.url}/{api.api_id}")
    return value


def _event_tap(session: boto3.Session, bus: str) -> str:
    """Local only: every v6migrate event is copied to an SQS queue the demo and tests read."""
    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"{bus}-events-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events = session.client("events")
    events.put_rule(
        Name="local-events-tap",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["v6migrate"]}),
    )
    events.put_targets(
        Rule="local-events-tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": queue_arn}]
    )
    return str(queue_url)


def drain(session: boto3.Session, queue_url: str) -> list[dict[str, Any]]:
    """Every event the tap holds, oldest first, taken off the queue."""
    sqs = session.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        found.extend(json.loads(m["Body"]) for m in batch)
