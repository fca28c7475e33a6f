"""IPAM IPv6 pools, which moto 5.2.5 lacks (DOMAIN.md, EC2 step 1: `Ipv6IpamPoolId` +
`Ipv6NetmaskLength` instead of an Amazon-provided /56).

EC2 API reference: CreateIpam, CreateIpamPool (AddressFamily ipv6), ProvisionIpamPoolCidr,
DescribeIpamPools; AssociateVpcCidrBlock with Ipv6IpamPoolId allocates the next free block of
`Ipv6NetmaskLength` from the pool's provisioned CIDRs. Only what the workflow uses is here:
allocations are not released back to the pool on disassociation (UNCONFIRMED how soon AWS
does; a later allocation simply takes the next free block).
"""

from __future__ import annotations

import contextvars
import hashlib
import ipaddress
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import vpcs as vpc_models
from moto.ec2.responses import EC2Response
from moto.ec2.responses.vpcs import VPCs
from moto.moto_api._internal import mock_random

_next_block: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "v6migrate_ipam_block", default=None
)


def _store(backend: Any) -> dict[str, dict[str, Any]]:
    store: dict[str, dict[str, Any]] = backend.__dict__.setdefault("_v6_ipam_pools", {})
    return store


def _allocate(pool: dict[str, Any], netmask: int) -> str:
    taken = [ipaddress.IPv6Network(c) for c in pool["allocations"]]
    for provisioned in pool["cidrs"]:
        network = ipaddress.IPv6Network(provisioned)
        if netmask < network.prefixlen:
            continue
        for candidate in network.subnets(new_prefix=netmask):
            if not any(candidate.overlaps(t) for t in taken):
                pool["allocations"].append(str(candidate))
                return str(candidate)
    raise EC2ClientError(
        "InsufficientCidrBlocks", f"The pool {pool['id']} has no free /{netmask} left."
    )


def ipv6_pools() -> None:
    if hasattr(EC2Response, "create_ipam_pool"):
        return

    def create_ipam(self: Any) -> ActionResult:
        ipam_id = "ipam-" + mock_random.get_random_hex(17)
        return ActionResult(
            {"Ipam": {"IpamId": ipam_id, "State": "create-complete",
                      "PublicDefaultScopeId": f"ipam-scope-{ipam_id[5:]}p",
                      "PrivateDefaultScopeId": f"ipam-scope-{ipam_id[5:]}q"}}
        )  # fmt: skip

    def create_ipam_pool(self: Any) -> ActionResult:
        pool_id = "ipam-pool-" + mock_random.get_random_hex(17)
        pool = {
            "id": pool_id,
            "family": self._get_param("AddressFamily"),
            "locale": self._get_param("Locale") or self.region,
            "cidrs": [],
            "allocations": [],
            "resources": {},  # allocated CIDR -> the VPC that holds it
        }
        _store(self.ec2_backend)[pool_id] = pool
        return ActionResult({"IpamPool": _shape(pool)})

    def provision_ipam_pool_cidr(self: Any) -> ActionResult:
        pool = _pool(self)
        cidr = self._get_param("Cidr")
        pool["cidrs"].append(str(ipaddress.IPv6Network(cidr)))
        return ActionResult(
            {"IpamPoolId": pool["id"], "IpamPoolCidr": {"Cidr": cidr, "State": "provisioned"}}
        )

    def describe_ipam_pools(self: Any) -> ActionResult:
        return ActionResult({"IpamPools": [_shape(p) for p in _store(self.ec2_backend).values()]})

    def get_ipam_pool_allocations(self: Any) -> ActionResult:
        """EC2 API reference, GetIpamPoolAllocations: each CIDR allocated from the pool, with
        the resource it was allocated to (here, the VPC an association took it for)."""
        pool = _pool(self)
        region = self.region
        owner = self.current_account
        found = [
            {
                "Cidr": cidr,
                "IpamPoolAllocationId": "ipam-pool-alloc-"
                + hashlib.sha256(f"{pool['id']}/{cidr}".encode()).hexdigest()[:17],
                "ResourceId": pool["resources"].get(cidr),
                "ResourceType": "vpc",
                "ResourceRegion": region,
                "ResourceOwner": owner,
            }
            for cidr in pool["allocations"]
        ]
        return ActionResult({"IpamPoolAllocations": found})

    EC2Response.get_ipam_pool_allocations = get_ipam_pool_allocations  # type: ignore[attr-defined]
    EC2Response.create_ipam = create_ipam  # type: ignore[attr-defined]
    EC2Response.create_ipam_pool = create_ipam_pool  # type: ignore[attr-defined]
    EC2Response.provision_ipam_pool_cidr = provision_ipam_pool_cidr  # type: ignore[attr-defined]
    EC2Response.describe_ipam_pools = describe_ipam_pools  # type: ignore[attr-defined]

    original_random = vpc_models.random_ipv6_cidr  # type: ignore[attr-defined]

    def next_block() -> str:
        return _next_block.get() or original_random()

    vpc_models.random_ipv6_cidr = next_block  # type: ignore[attr-defined]
    original_associate = VPCs.associate_vpc_cidr_block

    def associate_vpc_cidr_block(self: Any) -> Any:
        pool_id = self._get_param("Ipv6IpamPoolId")
        if not pool_id:
            return original_associate(self)
        netmask = int(self._get_param("Ipv6NetmaskLength") or 56)
        block = _allocate(_pool(self, pool_id), netmask)
        # Let moto's own Amazon-provided path do the association with the pool's block.
        self.params = {**self.params, "AmazonProvidedIpv6CidrBlock": True}
        token = _next_block.set(block)
        try:
            result = original_associate(self)
        finally:
            _next_block.reset(token)
        body: dict[str, Any] = result.result  # type: ignore[assignment]
        body["Ipv6CidrBlockAssociation"]["Ipv6Pool"] = pool_id
        _pool(self, pool_id)["resources"][block] = self._get_param("VpcId")
        return result

    VPCs.associate_vpc_cidr_block = associate_vpc_cidr_block  # type: ignore[method-assign]


def _pool(response: Any, pool_id: str | None = None) -> dict[str, Any]:
    wanted = pool_id or response._get_param("IpamPoolId")
    pool = _store(response.ec2_backend).get(wanted)
    if pool is None:
        raise EC2ClientError("InvalidIpamPoolId.NotFound", f"The pool ID '{wanted}' does not exist")
    return pool


def _shape(pool: dict[str, Any]) -> dict[str, Any]:
    return {
        "IpamPoolId": pool["id"],
        "AddressFamily": pool["family"],
        "Locale": pool["locale"],
        "State": "create-complete",
    }
