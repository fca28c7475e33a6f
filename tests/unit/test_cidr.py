"""/64 carving (DOMAIN.md, EC2 step 2: one /64 per subnet, chosen deterministically)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from v6migrate.cidr import CarvingError, capacity, carve, subnet_cidr, subnet_index

BLOCK = "2600:1f18:abc:de00::/56"


def test_a_56_holds_256_64s() -> None:
    assert capacity(56) == 256


def test_index_and_cidr_round_trip() -> None:
    assert subnet_cidr(BLOCK, 0) == "2600:1f18:abc:de00::/64"
    assert subnet_cidr(BLOCK, 255) == "2600:1f18:abc:deff::/64"
    assert subnet_index(BLOCK, "2600:1f18:abc:de07::/64") == 7


def test_a_64_outside_the_block_has_no_index() -> None:
    assert subnet_index(BLOCK, "2600:1f18:abc:df00::/64") is None


def test_index_past_the_block_is_refused() -> None:
    with pytest.raises(CarvingError):
        subnet_cidr(BLOCK, 256)


def test_more_subnets_than_room_is_refused() -> None:
    pending = [(f"subnet-{i}", f"10.0.{i}.0/24") for i in range(3)]
    with pytest.raises(CarvingError, match="3 subnets need a /64"):
        carve(63, pending, taken=[0])


subnets = st.lists(st.integers(0, 65535), min_size=0, max_size=120, unique=True).map(
    lambda ids: [(f"subnet-{i:05d}", f"10.{i // 256}.{i % 256}.0/24") for i in ids]
)


@given(subnets, st.lists(st.integers(0, 127), max_size=100, unique=True))
def test_carved_indices_are_unique_free_and_inside(
    pending: list[tuple[str, str]], taken: list[int]
) -> None:
    chosen = carve(56, pending, taken)
    values = list(chosen.values())
    assert len(set(values)) == len(values) == len(pending)
    assert not set(values) & set(taken)
    assert all(0 <= v < 256 for v in values)
    for value in values:
        assert ipaddress.ip_network(subnet_cidr(BLOCK, value)).subnet_of(
            ipaddress.ip_network(BLOCK)  # type: ignore[arg-type]
        )


@given(subnets, st.randoms(use_true_random=False))
def test_carving_ignores_the_order_subnets_come_in(pending: list, shuffler) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(pending)
    shuffler.shuffle(shuffled)
    assert dict(carve(56, shuffled)) == dict(carve(56, pending))
