"""Cloud WAN gaps of moto 5.2.5: VPC attachments."""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random
from moto.networkmanager import urls as nm_urls
from moto.networkmanager.exceptions import ResourceNotFound, ValidationError
from moto.networkmanager.models import NetworkManagerBackend
from moto.networkmanager.responses import NetworkManagerResponse

from local.gaps.timing import CLOCK, settling


def _store(backend: NetworkManagerBackend) -> dict[str, dict[str, Any]]:
    store: dict[str, dict[str, Any]] = backend.__dict__.setdefault("_v6_vpc_attachments", {})
    return store


def create_vpc_attachment(
    self: NetworkManagerBackend,
    core_network_id: str,
    vpc_arn: str,
    subnet_arns: list[str],
    options: dict[str, Any] | None,
    tags: list[dict[str, str]] | None,
) -> dict[str, Any]:
    core = self.core_networks.get(core_network_id)
    if core is None:
        raise ResourceNotFound(core_network_id)
    if not subnet_arns:
        raise ValidationError("SubnetArns must name at least one subnet")
    region = vpc_arn.split(":")[3]
    attachment_id = "attachment-" + mock_random.get_random_hex(17)
    now = utcnow()
    attachment = {
        "Attachment": {
            "CoreNetworkId": core_network_id,
            "CoreNetworkArn": core.core_network_arn,
            "AttachmentId": attachment_id,
            "OwnerAccountId": vpc_arn.split(":")[4],
            "AttachmentType": "VPC",
            "State": "AVAILABLE",
            "EdgeLocation": region,
            "ResourceArn": vpc_arn,
            "Tags": tags or [],
            "CreatedAt": now,
            "UpdatedAt": now,
        },
        "SubnetArns": list(subnet_arns),
        "Options": {
            "Ipv6Support": bool((options or {}).get("Ipv6Support", False)),
            "ApplianceModeSupport": bool((options or {}).get("ApplianceModeSupport", False)),
        },
    }
    _store(self)[attachment_id] = attachment
    return attachment


def get_vpc_attachment(self: NetworkManagerBackend, attachment_id: str) -> dict[str, Any]:
    attachment = _store(self).get(attachment_id)
    if attachment is None:
        raise ResourceNotFound(attachment_id)
    return _shown(attachment)


def _shown(attachment: dict[str, Any]) -> dict[str, Any]:
    """The attachment as read now: UPDATING while an update settles, then AVAILABLE."""
    if settling(attachment.get("_v6_updated"), "core-attachment-updating"):
        return {**attachment, "Attachment": {**attachment["Attachment"], "State": "UPDATING"}}
    return attachment


def update_vpc_attachment(
    self: NetworkManagerBackend, attachment_id: str, options: dict[str, Any] | None
) -> dict[str, Any]:
    attachment = _store(self).get(attachment_id)
    if attachment is None:
        raise ResourceNotFound(attachment_id)
    if _shown(attachment)["Attachment"]["State"] != "AVAILABLE":
        raise ValidationError(f"Attachment {attachment_id} is not AVAILABLE")
    for key, value in (options or {}).items():
        attachment["Options"][key] = bool(value)
    attachment["Attachment"]["UpdatedAt"] = utcnow()
    attachment["_v6_updated"] = CLOCK.now()
    return _shown(attachment)


def vpc_attachment_updates() -> None:
    """UpdateVpcAttachment (Network Manager API reference): the attachment is UPDATING, then
    AVAILABLE with the new options (DOMAIN.md, Interconnects, Cloud WAN)."""
    if hasattr(NetworkManagerResponse, "update_vpc_attachment"):
        return
    NetworkManagerBackend.update_vpc_attachment = update_vpc_attachment  # type: ignore[attr-defined]

    def r_update(self: NetworkManagerResponse) -> ActionResult:
        attachment = self.networkmanager_backend.update_vpc_attachment(  # type: ignore[attr-defined]
            self._get_param("AttachmentId"), self._get_param("Options")
        )
        return ActionResult({"VpcAttachment": attachment})

    NetworkManagerResponse.update_vpc_attachment = r_update  # type: ignore[attr-defined]


def vpc_attachments() -> None:
    """Cloud WAN VPC attachments: CreateVpcAttachment, GetVpcAttachment, ListAttachments.

    Network Manager API reference (VpcAttachment, VpcOptions.Ipv6Support, Attachment.State).
    moto has core networks but no attachments.
    """
    if hasattr(NetworkManagerResponse, "create_vpc_attachment"):
        return
    nm_urls.url_paths.update(
        {
            "{0}/vpc-attachments$": NetworkManagerResponse.dispatch,
            "{0}/vpc-attachments/(?P<attachmentId>[^/]+)$": NetworkManagerResponse.dispatch,
            "{0}/attachments$": NetworkManagerResponse.dispatch,
        }
    )
    NetworkManagerBackend.create_vpc_attachment = create_vpc_attachment  # type: ignore[attr-defined]
    NetworkManagerBackend.get_vpc_attachment = get_vpc_attachment  # type: ignore[attr-defined]

    def r_create(self: NetworkManagerResponse) -> ActionResult:
        attachment = self.networkmanager_backend.create_vpc_attachment(  # type: ignore[attr-defined]
            core_network_id=self._get_param("CoreNetworkId"),
            vpc_arn=self._get_param("VpcArn"),
            subnet_arns=self._get_param("SubnetArns") or [],
            options=self._get_param("Options"),
            tags=self._get_param("Tags"),
        )
        return ActionResult({"VpcAttachment": attachment})

    def r_get(self: NetworkManagerResponse) -> ActionResult:
        attachment = self.networkmanager_backend.get_vpc_attachment(  # type: ignore[attr-defined]
            self._get_param("AttachmentId")
        )
        return ActionResult({"VpcAttachment": attachment})

    def r_list(self: NetworkManagerResponse) -> ActionResult:
        wanted = {
            "CoreNetworkId": self._get_param("CoreNetworkId"),
            "AttachmentType": self._get_param("AttachmentType"),
            "EdgeLocation": self._get_param("EdgeLocation"),
            "State": self._get_param("State"),
        }
        found = [
            _shown(a)["Attachment"]
            for _, a in sorted(_store(self.networkmanager_backend).items())
            if all(value is None or a["Attachment"][key] == value for key, value in wanted.items())
        ]
        start = int(self._get_param("NextToken") or 0)
        asked = self._get_param("MaxResults")
        size = 100 if asked in (None, "") else int(asked)
        if not 1 <= size <= 500:
            # Network Manager API reference, ListAttachments: MaxResults 1-500
            raise ValidationError(f"MaxResults {size} is not between 1 and 500")
        result: dict[str, Any] = {"Attachments": found[start : start + size]}
        if start + size < len(found):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    NetworkManagerResponse.create_vpc_attachment = r_create  # type: ignore[attr-defined]
    NetworkManagerResponse.get_vpc_attachment = r_get  # type: ignore[attr-defined]
    NetworkManagerResponse.list_attachments = r_list  # type: ignore[attr-defined]
