"""Each function reads its own secrets, not every chat secret of every stack (issue 27, item 4):
template.yaml's grants, resolved for a stack with every chat secret named, matched against
secret ARNs as IAM matches a resource (`*` any characters, `?` one; Secrets Manager ends an
ARN with a dash and six random characters)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local.template import Resolver, load

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
SECRETS = {
    "SlackSigningSecretName": "v6migrate/chat/slack-signing",
    "SlackWebhookSecretName": "v6migrate/chat/slack-webhook",
    "TeamsWebhookSecretName": "v6migrate/chat/teams-webhook",
    "EntraClientSecretName": "v6migrate/chat/entra",
}
ANOTHER_STACKS = "v6migrate/chat/prod-slack-signing"


def _grants(parameters: dict[str, str]) -> dict[str, list[str]]:
    """Each function's secretsmanager:GetSecretValue resources."""
    template = load(ROOT / "template.yaml")
    resolver = Resolver(template, "dev", "eu-west-1", "123456789012", parameters=parameters)
    found: dict[str, list[str]] = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            if not isinstance(policy, dict) or "Statement" not in policy:
                continue
            # only the statements about secrets (the others name resources not deployed here)
            about = [s for s in policy["Statement"] if "secretsmanager:" in json.dumps(s)]
            for statement in resolver.resolve(about):
                actions = statement["Action"]
                if "secretsmanager:GetSecretValue" in (
                    [actions] if isinstance(actions, str) else actions
                ):
                    resources = statement["Resource"]
                    found.setdefault(logical, []).extend(
                        [resources] if isinstance(resources, str) else resources
                    )
    return found


def _matches(pattern: str, arn: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def _reads(grants: list[str], name: str) -> bool:
    return any(_matches(g, f"{PREFIX}{name}-AbC123") for g in grants)


@pytest.mark.parametrize(
    ("function", "own"),
    [("ApiFunction", {"SlackSigningSecretName"}),
     ("NotifyFunction", {"SlackWebhookSecretName", "TeamsWebhookSecretName"})],
)  # fmt: skip
def test_a_function_reads_its_own_secrets_only(function: str, own: set[str]) -> None:
    grants = _grants(dict(SECRETS))[function]
    for parameter, name in SECRETS.items():
        assert _reads(grants, name) is (parameter in own), (function, name, grants)
    assert not _reads(grants, ANOTHER_STACKS)


def test_without_a_secret_named_no_function_reads_any() -> None:
    grants = _grants({})
    assert not any(grants.values()), grants


def test_the_decision_queue_is_polled_with_a_grant_on_that_queue_alone() -> None:
    """Lambda polls an SQS queue as the function's role (ReceiveMessage, DeleteMessage,
    GetQueueAttributes: Lambda developer guide, "Using Lambda with Amazon SQS"). SAM's SQS
    event attaches AWSLambdaSQSQueueExecutionRole, those actions on every queue: so no
    function has one, and the mapping's function is granted them on its queue only."""
    resources = load(ROOT / "template.yaml")["Resources"]
    for logical, resource in resources.items():
        events = resource.get("Properties", {}).get("Events", {}) or {}
        assert not [e for e in events.values() if e.get("Type") == "SQS"], logical
    mappings = [r["Properties"] for r in resources.values()
                if r["Type"] == "AWS::Lambda::EventSourceMapping"]  # fmt: skip
    assert mappings
    for mapping in mappings:
        function = resources[mapping["FunctionName"]["Ref"]]["Properties"]
        statements = [s for p in function["Policies"] if isinstance(p, dict)
                      for s in p.get("Statement", [])]  # fmt: skip
        polling = [
            s
            for s in statements
            if any(
                str(a).startswith("sqs:")
                for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
            )
        ]
        assert len(polling) == 1
        assert set(polling[0]["Action"]) == {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        }
        assert polling[0]["Resource"] == mapping["EventSourceArn"]
