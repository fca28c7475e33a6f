"""VPC CNI configuration merging (DOMAIN.md, VPC CNI: both containers, merge never replace)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6migrate import cni

text = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8)
env = st.dictionaries(text.map(lambda k: f"X_{k}"), text, max_size=4)


@given(env, env, st.dictionaries(text.map(lambda k: f"top{k}"), text, max_size=3))
def test_merge_sets_the_flag_in_both_containers_and_keeps_every_other_key(
    node_env: dict[str, str], init_env: dict[str, str], top: dict[str, str]
) -> None:
    original = {**top, "env": node_env, "init": {"env": init_env}}
    merged = json.loads(cni.merge_v6_egress(json.dumps(original)))
    assert merged["env"] == {**node_env, "ENABLE_V6_EGRESS": "true"}
    assert merged["init"]["env"] == {**init_env, "ENABLE_V6_EGRESS": "true"}
    assert {k: merged[k] for k in top} == top
    assert cni.egress_enabled(merged)


@pytest.mark.parametrize("users", ["false", "False", "", "0"])
def test_the_flag_wins_over_a_value_the_user_set(users: str) -> None:
    # The run's purpose is the flag on in both containers; every other key stays the user's.
    original = {"env": {"ENABLE_V6_EGRESS": users, "WARM_IP_TARGET": "5"},
                "init": {"env": {"ENABLE_V6_EGRESS": users}}}  # fmt: skip
    merged = json.loads(cni.merge_v6_egress(json.dumps(original)))
    assert merged["env"] == {"ENABLE_V6_EGRESS": "true", "WARM_IP_TARGET": "5"}
    assert merged["init"]["env"] == {"ENABLE_V6_EGRESS": "true"}
    assert cni.egress_enabled(merged)


def test_merge_of_empty_configuration() -> None:
    assert json.loads(cni.merge_v6_egress("")) == {
        "env": {"ENABLE_V6_EGRESS": "true"},
        "init": {"env": {"ENABLE_V6_EGRESS": "true"}},
    }


def test_yaml_configuration_is_read_as_eks_accepts_it() -> None:
    assert cni.parse_configuration("env:\n  WARM_IP_TARGET: '5'\n") == {
        "env": {"WARM_IP_TARGET": "5"}
    }


@pytest.mark.parametrize(
    "configuration",
    [{"env": {"ENABLE_V6_EGRESS": "true"}},
     {"init": {"env": {"ENABLE_V6_EGRESS": "true"}}},
     {"env": {"ENABLE_V6_EGRESS": "false"}, "init": {"env": {"ENABLE_V6_EGRESS": "true"}}},
     {"env": {"ENABLE_V6_EGRESS": "true"}, "init": {"env": {"ENABLE_V6_EGRESS": "false"}}}],
)  # fmt: skip
def test_flag_in_one_container_only_is_not_enabled(configuration: dict[str, object]) -> None:
    assert not cni.egress_enabled(configuration)


@pytest.mark.parametrize("bad", ["[1, 2]", "- a\n- b\n", "{: nope"])
def test_configuration_that_is_not_an_object_is_refused(bad: str) -> None:
    with pytest.raises(cni.ConfigurationError):
        cni.parse_configuration(bad)


@pytest.mark.parametrize(
    ("version", "parsed"),
    [("v1.18.3-eksbuild.1", (1, 18, 3)), ("1.16.3", (1, 16, 3)), ("v1.13.0", (1, 13, 0))],
)
def test_versions_parse(version: str, parsed: tuple[int, int, int]) -> None:
    assert cni.parse_version(version) == parsed


def test_garbage_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a VPC CNI version"):
        cni.parse_version("latest")
