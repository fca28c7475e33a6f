"""VPC CNI facts and configuration merging. Pure.

DOMAIN.md, VPC CNI: ENABLE_V6_EGRESS exists from v1.13.0; before v1.16.3 a node without IPv6
makes aws-node exit; the flag must be set in both `env` (aws-node) and `init.env`
(aws-vpc-cni-init); the user's other configurationValues are merged, never replaced.
"""

from __future__ import annotations

import json
import re
from typing import Any

V6_EGRESS_MIN = (1, 13, 0)
V6_EGRESS_SAFE_WITHOUT_NODE_IPV6 = (1, 16, 3)
FLAG = "ENABLE_V6_EGRESS"


class ConfigurationError(ValueError):
    """The add-on's configurationValues cannot be read as a JSON or YAML object."""


def parse_version(version: str) -> tuple[int, int, int]:
    """`v1.18.3-eksbuild.1` -> (1, 18, 3)."""
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", version.strip())
    if not match:
        raise ValueError(f"not a VPC CNI version: {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def parse_configuration(text: str) -> dict[str, Any]:
    """configurationValues as EKS accepts them: JSON or YAML, empty meaning none."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        import yaml  # only YAML configurationValues need it (a tenth of a handler's import)

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigurationError(
                f"configurationValues are neither JSON nor YAML: {error}"
            ) from error
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigurationError("configurationValues must be an object")
    return value


def _env(section: dict[str, Any]) -> dict[str, Any]:
    env = section.get("env")
    return env if isinstance(env, dict) else {}


def env_value(configuration: dict[str, Any], name: str, init: bool = False) -> str | None:
    section = configuration.get("init", {}) if init else configuration
    if not isinstance(section, dict):
        return None
    value = _env(section).get(name)
    return None if value is None else str(value)


def egress_enabled(configuration: dict[str, Any]) -> bool:
    return (
        env_value(configuration, FLAG) == "true"
        and env_value(configuration, FLAG, init=True) == "true"
    )


def merge_v6_egress(text: str) -> str:
    """The user's configurationValues with ENABLE_V6_EGRESS=true in both containers."""
    configuration = parse_configuration(text)
    merged = dict(configuration)
    merged["env"] = {**_env(configuration), FLAG: "true"}
    init = configuration.get("init")
    init_section = dict(init) if isinstance(init, dict) else {}
    init_section["env"] = {**_env(init_section), FLAG: "true"}
    merged["init"] = init_section
    return json.dumps(merged, sort_keys=True)
