"""Every v6migrate event, formatted for people: Amazon Q Developer in chat applications (an SNS
custom notification), Slack (Block Kit, through an incoming webhook) and Microsoft Teams (an
Adaptive Card, through a Workflows webhook). Issue 11, item 6.

Amazon Q's format is its custom notification schema (Amazon Q Developer in chat applications
admin guide, custom notifications): `version` "1.0", `source` "custom", `content` (title,
description, nextSteps, keywords) and `metadata` (threadId: one thread per migration;
additionalContext: the approval id, which a custom action's `v6migrate approve` command reads).
No task token, proof or secret is ever in an event, so none is in a message.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

ICONS = {
    "Stage Started": ":arrow_forward:",
    "Stage Succeeded": ":white_check_mark:",
    "Stage Failed": ":x:",
    "Migration Planned": ":clipboard:",
    "Approval Requested": ":raised_hand:",
    "Approval Decided": ":ballot_box_with_check:",
    "Migration Succeeded": ":tada:",
    "Migration Rolled Back": ":rewind:",
}


def _where(detail: dict[str, Any]) -> str:
    return (
        f"{detail.get('cluster') or '?'} ({detail.get('account_id') or '?'}, "
        f"{detail.get('region') or '?'})"
    )


def title(event: dict[str, Any]) -> str:
    kind = str(event.get("detail-type", "event"))
    detail = event.get("detail") or {}
    stage = f" {detail['stage']}" if kind.startswith("Stage") and detail.get("stage") else ""
    return f"{ICONS.get(kind, ':information_source:')} {kind}{stage}: {_where(detail)}"


def lines(event: dict[str, Any]) -> list[str]:
    """What happened, a line each, in markdown both chat clients render."""
    kind = event.get("detail-type")
    detail = event.get("detail") or {}
    found = [f"Migration `{detail.get('migration_id')}`"]
    if detail.get("wave_id"):
        found.append(f"Wave `{detail['wave_id']}`")
    if kind == "Migration Planned":
        counts = ", ".join(f"{k} {v}" for k, v in (detail.get("counts") or {}).items())
        found.append(f"{'Blocked' if detail.get('blocked') else 'Ready'} ({detail.get('mode')}): "
                     f"{counts}")  # fmt: skip
        found += [
            f"blocker `{b.get('code')}`: {b.get('message')}" for b in detail.get("blockers", [])
        ]
    elif kind == "Approval Requested":
        counts = ", ".join(f"{k} {v}" for k, v in (detail.get("counts") or {}).items())
        found.append(f"Plan: {counts}; {detail.get('required')} approval(s) needed")
        found += [f"• {line}" for line in detail.get("changes", [])]
        if detail.get("omitted_changes"):
            found.append(f"… and {detail['omitted_changes']} more")
        if detail.get("changed"):
            found.append("The plan moved since it was approved:")
            found += [f"  {line}" for line in detail["changed"]]
        found += [f"⚠ {line}" for line in detail.get("warnings", [])]
    elif kind == "Approval Decided":
        found.append(f"{detail.get('decision')} by {detail.get('decided_by')}: "
                     f"{detail.get('status')}")  # fmt: skip
    elif kind == "Stage Failed":
        found.append(f"Error: `{detail.get('error')}`")
    elif kind == "Migration Rolled Back":
        found.append(f"Error: `{detail.get('error')}`; reverted {len(detail.get('reverted', []))}, "
                     f"kept {len(detail.get('kept', []))}")  # fmt: skip
        found += [f"kept: {k}" for k in detail.get("kept", [])]
    elif kind == "Migration Succeeded":
        validation = detail.get("validation") or {}
        checks = validation.get("checks", [])
        found.append(f"Validation: {sum(1 for c in checks if c.get('ok'))}/{len(checks)} checks")
    return found


def next_steps(event: dict[str, Any]) -> list[str]:
    detail = event.get("detail") or {}
    kind = event.get("detail-type")
    if kind == "Approval Requested":
        approval = detail.get("approval_id")
        return [f"Approve: `v6migrate approve {approval}`",
                f"Reject: `v6migrate reject {approval}`"]  # fmt: skip
    if kind in ("Stage Failed", "Migration Rolled Back"):
        return [f"Status: `v6migrate status {detail.get('migration_id')}`",
                "Runbook: docs/runbook.md"]  # fmt: skip
    return []


def amazon_q(event: dict[str, Any]) -> dict[str, Any]:
    """An Amazon Q Developer custom notification (to publish on its SNS topic)."""
    detail = event.get("detail") or {}
    context = {"migration_id": str(detail.get("migration_id"))}
    if detail.get("approval_id"):
        context["approval_id"] = str(detail["approval_id"])
    return {
        "version": "1.0",
        "source": "custom",
        "id": str(event.get("id", "")),
        "content": {
            "textType": "client-markdown",
            "title": title(event),
            "description": "\n".join(lines(event)),
            "nextSteps": next_steps(event),
            "keywords": [k for k in ("v6migrate", detail.get("cluster"), detail.get("stage")) if k],
        },
        "metadata": {
            "threadId": str(detail.get("migration_id")),
            "summary": title(event),
            "eventType": str(event.get("detail-type", "")).replace(" ", ""),
            "additionalContext": context,
        },
    }


def slack(event: dict[str, Any]) -> dict[str, Any]:
    """Block Kit for an incoming webhook. An approval carries Approve (with a confirmation
    dialog) and Reject buttons whose value is the approval id; they decide only through the
    signed interactivity callback, never by a link."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title(event)}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines(event))[:2900]}},
    ]
    detail = event.get("detail") or {}
    if event.get("detail-type") == "Approval Requested":
        approval = str(detail.get("approval_id"))
        blocks.append({
            "type": "actions",
            "block_id": f"v6migrate-approval-{approval}",
            "elements": [
                {"type": "button", "action_id": "v6migrate_approve", "style": "primary",
                 "text": {"type": "plain_text", "text": "Approve"}, "value": approval,
                 "confirm": {
                     "title": {"type": "plain_text", "text": "Approve this plan?"},
                     "text": {"type": "mrkdwn",
                              "text": f"The run changes the network of {_where(detail)}."},
                     "confirm": {"type": "plain_text", "text": "Approve"},
                     "deny": {"type": "plain_text", "text": "Cancel"},
                 }},
                {"type": "button", "action_id": "v6migrate_reject", "style": "danger",
                 "text": {"type": "plain_text", "text": "Reject"}, "value": approval},
            ],
        })  # fmt: skip
    return {"text": title(event), "blocks": blocks}


def teams(event: dict[str, Any], confirm_url: str | None = None) -> dict[str, Any]:
    """An Adaptive Card for a Teams Workflows webhook. It cannot call back: an approval shows the
    commands that decide it and, with `confirm_url` (the confirmation page), a link to the page
    where the person signs in and decides (a GET of it decides nothing)."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title(event), "weight": "Bolder", "wrap": True},
        *({"type": "TextBlock", "text": line, "wrap": True} for line in lines(event)),
        *({"type": "TextBlock", "text": step, "wrap": True, "isSubtle": True}
          for step in next_steps(event)),
    ]  # fmt: skip
    card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                            "type": "AdaptiveCard", "version": "1.4", "body": body}  # fmt: skip
    approval = (event.get("detail") or {}).get("approval_id")
    if confirm_url and event.get("detail-type") == "Approval Requested" and approval:
        query = urllib.parse.urlencode({"approval": approval})
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Review and decide",
                            "url": f"{confirm_url}?{query}"}]  # fmt: skip
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                         "content": card}],
    }  # fmt: skip
