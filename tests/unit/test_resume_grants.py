"""Wave approvals resume on AWS (issue 26, item 7): a task token is authorised against the
state machine whose execution issued it (Step Functions API reference, SendTaskSuccess; Service
Authorization Reference: its resource is the state machine). Every function that resumes a run
decides wave approvals too (the approval function, Amazon Q's queue, the API's POST
/approvals/{id} and Slack's buttons), so each needs the grant on both machines."""

from __future__ import annotations

from pathlib import Path

from local.template import Resolver, load

ROOT = Path(__file__).resolve().parents[2]


def test_every_function_that_resumes_runs_may_resume_the_waves_too() -> None:
    template = load(ROOT / "template.yaml")
    resolver = Resolver(template, "v6migrate", "eu-west-1", "123456789012")
    machines = {
        f"arn:aws:states:eu-west-1:123456789012:stateMachine:v6migrate-{name}"
        for name in ("migration", "wave")
    }
    resuming = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                actions = statement.get("Action", [])
                actions = [actions] if isinstance(actions, str) else actions
                if "states:SendTaskSuccess" in actions:
                    granted = resolver.resolve(statement["Resource"])
                    resuming[logical] = {granted} if isinstance(granted, str) else set(granted)
    assert {"ApprovalFunction", "ApprovalWorkflowFunction", "ApiFunction"} <= set(resuming)
    for logical, granted in resuming.items():
        assert machines <= granted, (logical, sorted(granted))
