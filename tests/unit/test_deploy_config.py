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
