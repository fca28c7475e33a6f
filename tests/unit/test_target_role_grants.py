"""The target role tags only what the workflow creates (issue 27, item 4): EC2 checks
`ec2:CreateTags` for tags given at creation (TagSpecifications), and the `ec2:CreateAction`
condition key limits that grant to those creations, so no existing resource of the account can
be retagged with it (EC2 user guide, "Grant permission to tag resources during creation")."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from local.template import load

ROOT = Path(__file__).resolve().parents[2]


def _statements() -> list[dict[str, Any]]:
    role = load(ROOT / "target-account-role.yaml")["Resources"]["TargetRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _tagged_on_creation() -> set[str]:
    """The EC2 create calls the changes make with TagSpecifications (their API names)."""
    found: set[str] = set()
    for path in (ROOT / "layers/common/v6migrate").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            if not any(k.arg == "TagSpecifications" for k in node.keywords):
                continue
            named = [a.value for a in node.args if isinstance(a, ast.Constant)]
            found.update(str(n).split(":", 1)[1] for n in named if str(n).startswith("ec2:"))
    return found


def test_tags_are_granted_only_on_the_creations_that_give_them() -> None:
    grants = [s for s in _statements() if "ec2:CreateTags" in _actions(s)]
    assert grants, "tag-on-create needs ec2:CreateTags"
    creations: set[str] = set()
    for statement in grants:
        assert _actions(statement) == ["ec2:CreateTags"], statement["Sid"]
        action = statement["Condition"]["StringEquals"]["ec2:CreateAction"]
        creations.update([action] if isinstance(action, str) else action)
    assert creations == _tagged_on_creation() == {"CreateEgressOnlyInternetGateway"}


def test_the_read_only_role_of_dry_runs_can_change_nothing() -> None:
    resources = load(ROOT / "target-account-role.yaml")["Resources"]
    role = resources["ReadRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [{"Ref": "ReadPolicy"}]
    statements = [
        *resources["ReadPolicy"]["Properties"]["PolicyDocument"]["Statement"],
        *(s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]),
    ]
    actions = {a for s in statements for a in _actions(s)}
    assert actions
    verbs = {a.split(":", 1)[1].split("*")[0] for a in actions}
    writes = {v for v in verbs if not v.startswith(("Describe", "List", "Get"))}
    assert not writes, writes
    # and it trusts exactly whom the stages' role trusts
    assert (
        role["AssumeRolePolicyDocument"]
        == (resources["TargetRole"]["Properties"]["AssumeRolePolicyDocument"])
    )


def test_the_node_roles_it_may_pass_are_named_by_the_deployer_never_every_role() -> None:
    """iam:PassRole on every role of the account would let whoever holds the target role hand
    EKS an administrator's role; the template has no default and refuses a bare `*`."""
    import re

    parameter = load(ROOT / "target-account-role.yaml")["Parameters"]["NodeRoleNamePattern"]
    assert "Default" not in parameter
    pattern = re.compile(parameter["AllowedPattern"])
    assert not pattern.match("*")
    for named in ("eks-node-*", "eks/*", "AmazonEKSNodeRole"):
        assert pattern.match(named), named
