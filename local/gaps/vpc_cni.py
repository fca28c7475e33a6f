"""The simulated add-on catalog and the vpc-cni configuration schema.

The schema keeps the shape of the real one that `DescribeAddonConfiguration` returns for
vpc-cni: a closed object with `env` (the aws-node container), `init.env` (the
aws-vpc-cni-init container) and a few top-level keys. Only a subset of variables is listed;
ENABLE_V6_EGRESS is accepted from v1.13.0, the version that introduced it (DOMAIN.md, VPC CNI).
"""

from __future__ import annotations

from typing import Any

ADDON_CATALOG: dict[str, tuple[str, ...]] = {
    "vpc-cni": (
        "v1.12.6-eksbuild.2",
        "v1.13.4-eksbuild.1",
        "v1.15.5-eksbuild.1",
        "v1.16.0-eksbuild.1",
        "v1.16.4-eksbuild.2",
        "v1.18.3-eksbuild.1",
        "v1.19.2-eksbuild.1",
    ),
    "kube-proxy": ("v1.30.3-eksbuild.2", "v1.31.2-eksbuild.3"),
    "coredns": ("v1.11.1-eksbuild.11", "v1.11.3-eksbuild.2"),
}

_TRUE_FALSE = {"type": "string", "enum": ["true", "false"]}
_INTEGER_TEXT = {"type": "string", "pattern": "^[0-9]+$"}

_AWS_NODE_ENV: dict[str, Any] = {
    "AWS_VPC_K8S_CNI_LOGLEVEL": {"type": "string"},
    "AWS_VPC_K8S_CNI_EXTERNALSNAT": _TRUE_FALSE,
    "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": _TRUE_FALSE,
    "ENABLE_POD_ENI": _TRUE_FALSE,
    "ENABLE_PREFIX_DELEGATION": _TRUE_FALSE,
    "WARM_ENI_TARGET": _INTEGER_TEXT,
    "WARM_IP_TARGET": _INTEGER_TEXT,
    "MINIMUM_IP_TARGET": _INTEGER_TEXT,
    "WARM_PREFIX_TARGET": _INTEGER_TEXT,
    "POD_SECURITY_GROUP_ENFORCING_MODE": {"type": "string", "enum": ["strict", "standard"]},
}
_INIT_ENV: dict[str, Any] = {"DISABLE_TCP_EARLY_DEMUX": _TRUE_FALSE}
_V6_EGRESS_FROM = (1, 13, 0)
_V4_EGRESS_FROM = (1, 15, 1)


def _version(text: str) -> tuple[int, int, int]:
    major, minor, patch = text.lstrip("v").split("-")[0].split(".")[:3]
    return int(major), int(minor), int(patch)


def configuration_schema(name: str, version: str) -> dict[str, Any]:
    if name != "vpc-cni":
        return {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}
    node_env = dict(_AWS_NODE_ENV)
    init_env = dict(_INIT_ENV)
    if _version(version) >= _V6_EGRESS_FROM:
        node_env["ENABLE_V6_EGRESS"] = _TRUE_FALSE
        node_env["DISABLE_POD_V6"] = _TRUE_FALSE
        init_env["ENABLE_V6_EGRESS"] = _TRUE_FALSE
    if _version(version) >= _V4_EGRESS_FROM:
        node_env["ENABLE_V4_EGRESS"] = _TRUE_FALSE
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "env": {"type": "object", "additionalProperties": False, "properties": node_env},
            "init": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "env": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": init_env,
                    }
                },
            },
            "enableNetworkPolicy": _TRUE_FALSE,
            "resources": {"type": "object"},
            "tolerations": {"type": "array"},
            "nodeAgent": {"type": "object"},
        },
    }
