"""checkov over both templates and the SAM-translated template.yaml; fails on any failed check
that docs/iam.md does not justify by id and resource (a reason a check, and the table of the
resources each reason covers), on a justification nothing fails any more, and on any IAM
statement that grants `*` actions.

Runs in checkov's own virtual environment (`make checkov`, part of `make test`), which also
holds the SAM translator: the template is translated offline, as `sam deploy` would have
CloudFormation do, with each local code location standing in as an S3 URI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
JUSTIFIED = re.compile(r"^- `?(CKV2?_AWS_\d+)`?[: ]")


COVERED = re.compile(r"^\| `?(CKV2?_AWS_\d+)`? \| (.+) \|$")


def justified() -> set[str]:
    """The ids docs/iam.md answers, one line each: `- CKV_AWS_NNN: why`."""
    lines = (ROOT / "docs" / "iam.md").read_text().splitlines()
    return {m.group(1) for line in lines if (m := JUSTIFIED.match(line))}


def covered() -> set[tuple[str, str]]:
    """(check id, resource) pairs docs/iam.md's table names: `| CKV_AWS_NNN | `A`, `B` |`."""
    lines = (ROOT / "docs" / "iam.md").read_text().splitlines()
    return {
        (m.group(1), name)
        for line in lines
        if (m := COVERED.match(line))
        for name in re.findall(r"`([A-Za-z0-9]+)`", m.group(2))
    }


def logical(resource: str) -> str:
    """checkov's `AWS::Lambda::Function.ApiFunction` (or SAM's type): the logical id."""
    return resource.rsplit(".", 1)[-1]


def translated(out: Path) -> Path:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse((ROOT / "template.yaml").read_text())
    for logical, resource in document["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://v6migrate-artifacts/{logical}"

    class NoManagedPolicies:  # the template names none by name
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    path = out / "template.translated.json"
    path.write_text(json.dumps(transform(document, {}, NoManagedPolicies()), indent=1))
    return path


def star_actions(path: Path) -> list[str]:
    """Statements granting every action, or every action of a service."""
    text = path.read_text()
    if path.suffix == ".json":
        document: Any = json.loads(text)
    else:
        sys.path.insert(0, str(ROOT))
        from local.template import load

        document = load(path)
    found = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "Effect" in node and "Action" in node:
                actions = node["Action"] if isinstance(node["Action"], list) else [node["Action"]]
                found.extend(f"{where}: {a}" for a in actions
                             if isinstance(a, str) and (a == "*" or a.endswith(":*")))  # fmt: skip
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    walk(document, path.name)
    return found


def main() -> None:
    checkov = Path(sys.executable).with_name("checkov")
    with tempfile.TemporaryDirectory(prefix="v6migrate-checkov-") as work:
        files = [ROOT / "template.yaml", ROOT / "target-account-role.yaml", translated(Path(work))]
        done = subprocess.run(
            [str(checkov), "--framework", "cloudformation", "--quiet", "--compact", "-o", "json",
             *(arg for f in files for arg in ("-f", str(f)))],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        reports = json.loads(done.stdout or "[]")
        stars = [s for f in files for s in star_actions(f)]
    reports = reports if isinstance(reports, list) else [reports]
    failed: dict[str, list[str]] = {}
    pairs: set[tuple[str, str]] = set()
    for report in reports:
        for check in report.get("results", {}).get("failed_checks", []):
            where = f"{Path(check['file_path']).name}:{check['resource']}"
            failed.setdefault(check["check_id"], []).append(where)
            pairs.add((check["check_id"], logical(check["resource"])))
    answered, named = justified(), covered()
    unanswered = {k: v for k, v in sorted(failed.items()) if k not in answered}
    for check_id, resource in sorted(pairs - named):
        unanswered.setdefault(check_id, []).append(f"{resource} (not in docs/iam.md's table)")
    for check_id, resource in sorted(named - pairs):
        print(f"docs/iam.md's table names {check_id} on {resource}, which passes it now")
    for check_id, where in sorted(failed.items()):
        mark = "justified in docs/iam.md" if check_id in answered else "NOT JUSTIFIED"
        print(f"{check_id}: {len(where)} failed ({mark})")
    for star in stars:
        print(f"`*` actions: {star}")
    stale = sorted(answered - set(failed))
    if stale:
        print(f"docs/iam.md justifies checks that no longer fail: {', '.join(stale)}")
    if unanswered or stars or named - pairs:
        for check_id, where in unanswered.items():
            print(f"{check_id} fails on {', '.join(where)}: fix it or justify it in docs/iam.md")
        raise SystemExit(1)
    print(f"checkov: {sum(len(v) for v in failed.values())} failed checks, every one justified")


if __name__ == "__main__":
    main()
