"""IPv6 carving: one /64 per subnet out of the VPC's block, chosen deterministically. Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping


class CarvingError(ValueError):
    """The VPC's block cannot hold the /64s asked of it."""


def capacity(prefix_length: int) -> int:
    """How many /64s a VPC block of this prefix length holds (a /56 holds 256)."""
    if not 0 <= prefix_length <= 64:
        raise CarvingError(f"an IPv6 VPC block is /64 or larger, not /{prefix_length}")
    return 1 << (64 - prefix_length)


def subnet_cidr(vpc_block: str, index: int) -> str:
    """The index-th /64 of the VPC block."""
    network = ipaddress.IPv6Network(vpc_block, strict=True)
    if not 0 <= index < capacity(network.prefixlen):
        raise CarvingError(f"/64 number {index} is outside {vpc_block}")
    base = int(network.network_address) + (index << 64)
    return str(ipaddress.IPv6Network((base, 64)))


def subnet_index(vpc_block: str, cidr: str) -> int | None:
    """Position of a /64 inside the VPC block, or None when it lies outside."""
    network = ipaddress.IPv6Network(vpc_block, strict=True)
    child = ipaddress.IPv6Network(cidr, strict=False)
    if child.prefixlen != 64 or not child.subnet_of(network):
        return None
    return (int(child.network_address) - int(network.network_address)) >> 64


def _ipv4_order(cidr: str) -> int:
    return int(ipaddress.IPv4Network(cidr, strict=False).network_address)


def carve(
    prefix_length: int,
    pending: Iterable[tuple[str, str]],
    taken: Iterable[int] = (),
) -> Mapping[str, int]:
    """Choose a /64 index for each pending subnet.

    `pending` holds (subnet_id, ipv4_cidr) pairs for subnets with no IPv6 yet; `taken` the
    indices already associated. Subnets are served in order of their IPv4 network, each with
    the lowest free index, so a re-run with the same estate picks the same /64s, and /64s
    already in use are never chosen again.
    """
    used = set(taken)
    ordered = sorted(pending, key=lambda item: (_ipv4_order(item[1]), item[0]))
    room = capacity(prefix_length) - len(used)
    if len(ordered) > room:
        raise CarvingError(
            f"{len(ordered)} subnets need a /64 but the /{prefix_length} block has {room} left"
        )
    chosen: dict[str, int] = {}
    candidate = 0
    for subnet_id, _ in ordered:
        while candidate in used:
            candidate += 1
        chosen[subnet_id] = candidate
        used.add(candidate)
    return chosen
