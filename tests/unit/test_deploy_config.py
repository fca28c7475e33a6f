"""samconfig.toml's environments deploy (issue 27, item 3): every override is a parameter of
template.yaml, dev and prod share no role, path or external id (so neither can act through
the other's target roles), and the README's table says what samconfig says."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from local.template import load

ROOT = Path(__file__).resolve().parents[2]
ISOLATING = ("TargetRoleName", "RolePath", "ExternalIdParameterName")


def _overrides(env: str) -> dict[str, str]:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    text = config[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in text.split())


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_override_is_a_parameter_the_template_takes(env: str) -> None:
    parameters = load(ROOT / "template.yaml")["Parameters"]
    for name, value in _overrides(env).items():
        assert name in parameters, (env, name)
        pattern = parameters[name].get("AllowedPattern")
        assert pattern is None or re.fullmatch(pattern, value), (env, name, value)


def test_dev_and_prod_share_no_target_role_path_or_external_id() -> None:
    dev, prod = _overrides("dev"), _overrides("prod")
    for name in ISOLATING:
        assert dev[name] != prod[name], name


def test_the_readme_names_each_environments_values() -> None:
    readme = (ROOT / "README.md").read_text()
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("dev", "prod"):
        stack = config[env]["deploy"]["parameters"]["stack_name"]
        values = [_overrides(env)[name] for name in ("ExternalIdParameterName", *ISOLATING[:2])]
        row = f"| `{env}` | `{stack}` | " + " | ".join(f"`{v}`" for v in values) + " |"
        assert row in readme, row


def test_each_rule_alarm_names_the_dimensions_aws_events_publishes() -> None:
    """AWS/Events publishes a rule's metrics on a custom bus with the dimensions EventBusName
    and RuleName, the rule's own name (EventBridge user guide, monitoring: metric dimensions;
    awsdocs/amazon-eventbridge-user-guide issues 11 and 17). Ref of a rule on a custom bus is
    `<bus>|<rule>` (aws-cloudformation/cloudformation-coverage-roadmap issue 1131): an alarm
    on RuleName: !Ref would watch a metric nobody publishes, and never fire (notBreaching)."""
    from local.template import Resolver

    template = load(ROOT / "template.yaml")
    resources = template["Resources"]
    resolver = Resolver(template, "v6migrate", "eu-west-1", "123456789012")
    resolver.refs["EventBus"] = "v6migrate-bus"
    rules = {}
    for logical, resource in resources.items():
        if resource["Type"] == "AWS::Events::Rule":
            bus = resolver.resolve(resource["Properties"]["EventBusName"])
            name = f"v6migrate-{logical}-1AB2C3D4E5F6"  # as CloudFormation names it
            resolver.refs[logical] = name if bus == "default" else f"{bus}|{name}"
            rules[name] = bus
    alarms = [r["Properties"] for r in resources.values()
              if r["Type"] == "AWS::CloudWatch::Alarm"
              and r["Properties"].get("Namespace") == "AWS/Events"]  # fmt: skip
    assert alarms
    for alarm in alarms:
        dimensions = {d["Name"]: resolver.resolve(d["Value"]) for d in alarm["Dimensions"]}
        assert dimensions["RuleName"] in rules, dimensions
        assert dimensions.get("EventBusName") == rules[dimensions["RuleName"]], dimensions
