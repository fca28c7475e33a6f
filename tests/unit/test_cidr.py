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


@pytest.mark.parametrize("length", [-1, 65, 128])
def test_a_block_length_outside_0_to_64_is_refused(length: int) -> None:
    with pytest.raises(CarvingError, match=f"not /{length}"):
        capacity(length)


def test_capacity_at_the_bounds() -> None:
    assert (capacity(64), capacity(60), capacity(44), capacity(0)) == (1, 16, 1 << 20, 1 << 64)


@pytest.mark.parametrize("index", [-1, 256, 300])
def test_only_indices_inside_the_block_have_a_64(index: int) -> None:
    with pytest.raises(CarvingError, match=f"number {index} is outside"):
        subnet_cidr(BLOCK, index)


def test_the_first_64_is_number_0() -> None:
    assert subnet_cidr(BLOCK, 0) == "2600:1f18:abc:de00::/64"
    assert subnet_index(BLOCK, "2600:1f18:abc:de00::/64") == 0


def test_a_block_with_host_bits_is_not_a_vpc_block() -> None:
    with pytest.raises(ValueError, match="host bits"):
        subnet_cidr("2600:1f18:abc:de01::/56", 0)
    with pytest.raises(ValueError, match="host bits"):
        subnet_index("2600:1f18:abc:de01::/56", "2600:1f18:abc:de07::/64")


def test_a_64_is_found_by_its_network_whatever_address_names_it() -> None:
    assert subnet_index(BLOCK, "2600:1f18:abc:de07::1/64") == 7


@pytest.mark.parametrize("cidr", ["2600:1f18:abc:de00::/60", "2600:1f18:abc:de07::/80"])
def test_only_a_64_has_an_index(cidr: str) -> None:
    assert subnet_index(BLOCK, cidr) is None


def test_subnets_get_the_lowest_free_64s_in_the_order_of_their_ipv4_networks() -> None:
    pending = [
        ("subnet-a", "10.0.2.0/24"),
        ("subnet-b", "10.0.1.0/24"),
        ("subnet-c", "10.0.3.0/24"),
    ]
    assert dict(carve(56, pending)) == {"subnet-b": 0, "subnet-a": 1, "subnet-c": 2}
    assert dict(carve(56, pending, taken=[0, 2])) == {"subnet-b": 1, "subnet-a": 3, "subnet-c": 4}


def test_a_block_can_be_filled_to_the_last_64() -> None:
    pending = [("subnet-a", "10.0.1.0/24"), ("subnet-b", "10.0.2.0/24")]
    assert dict(carve(63, pending)) == {"subnet-a": 0, "subnet-b": 1}
    assert dict(carve(62, pending, taken=[1, 3])) == {"subnet-a": 0, "subnet-b": 2}
