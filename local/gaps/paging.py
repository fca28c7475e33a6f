"""Pages as AWS gives them, for every Describe and List the workflow reads (issue 12).

moto 5.2.5 ignores `MaxResults` and `NextToken` on most of these, so a client that reads only
the first page, or loops on a token, passes against it. Here, for each operation below:

- the limit must lie within AWS's bounds, read from AWS's own service model (botocore's
  `service-2.json`: e.g. DescribeRouteTables 5-100, DescribeSubnets 5-1000, EKS List* 1-100);
  outside them EC2 answers `InvalidParameterValue`, EKS `InvalidParameterException`, Auto
  Scaling `ValidationError` (EC2 API reference, common client errors; EKS and Auto Scaling API
  references, errors of each operation);
- without a limit, EKS's List* return at most 100 items and DescribeAutoScalingGroups 50 (the
  documented defaults of `maxResults` and `MaxRecords`); EC2's Describe* return everything;
- the token is opaque and bound to the request that earned it; one AWS did not issue for that
  request is refused: EC2 `InvalidPaginationToken` ("not valid or is expired", EC2 API
  reference, common client errors), EKS `InvalidParameterException`, Auto Scaling
  `InvalidNextToken` (DescribeAutoScalingGroups, errors), Elastic Load Balancing
  `ValidationError` (DescribeLoadBalancers' `Marker`);
- AWS may answer with fewer items than the limit while more remain, and a client must follow
  `NextToken` until it is absent (EC2 API reference, "Pagination"). `set_page_size(n)` (`local
  serve --page-size N`, the integration tests) makes every page here at most n long, so each
  paginator in discovery and the changes turns pages for real. A request that names its
  resources by id (`SubnetId.1`, ...) is answered whole, as AWS answers every id asked for.

Which keys page is not decided here either: botocore's paginator model (`paginators-1.json`)
names each operation's token, limit and result keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any, cast

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses import EC2Response
from moto.eks.exceptions import InvalidParameterException
from moto.eks.responses import EKSResponse
from moto.elbv2.responses import ELBV2Response

READS: dict[str, tuple[str, ...]] = {
    "ec2": (
        "DescribeVpcs",
        "DescribeSubnets",
        "DescribeRouteTables",
        "DescribeSecurityGroups",
        "DescribeNetworkAcls",
        "DescribeNetworkInterfaces",
        "DescribeInstances",
        "DescribeLaunchTemplateVersions",
        "DescribeEgressOnlyInternetGateways",
        "DescribeInternetGateways",
        "DescribeTransitGatewayVpcAttachments",
        "DescribeVpcPeeringConnections",
        "DescribeVpcEndpoints",
        "DescribeVpcEndpointServiceConfigurations",
    ),
    "eks": ("ListNodegroups", "ListFargateProfiles", "ListAccessEntries", "ListUpdates"),
    "autoscaling": ("DescribeAutoScalingGroups",),
    "elbv2": ("DescribeLoadBalancers",),
}
# What a request without a limit gets (EKS API reference, maxResults of each List*: "returns up
# to 100 results"; Auto Scaling API reference, DescribeAutoScalingGroups, MaxRecords: default 50)
DEFAULT_LIMIT = {"eks": 100, "autoscaling": 50}
_RESPONSES: dict[str, Any] = {
    "ec2": EC2Response,
    "eks": EKSResponse,
    "autoscaling": AutoScalingResponse,
    "elbv2": ELBV2Response,
}
# Bounds the service model leaves out, from the API references: DescribeInstances MaxResults
# 5-1000, DescribeLaunchTemplateVersions 1-200, DescribeAutoScalingGroups MaxRecords up to 100
BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "DescribeInstances": (5, 1000),
    "DescribeLaunchTemplateVersions": (1, 200),
    "DescribeAutoScalingGroups": (1, 100),
}
_ALL = 10**6  # what moto's own paging, where it has any and no cap, is asked for

_page_size: int | None = None


def set_page_size(size: int | None) -> None:
    """At most `size` items a page from now on (None: AWS's own page sizes only)."""
    global _page_size
    if size is not None and size < 1:
        raise ValueError("a page holds at least one item")
    _page_size = size


def page_size() -> int | None:
    return _page_size


@cache
def _models(service: str) -> tuple[Any, Any]:
    import botocore.session

    session = botocore.session.get_session()
    return session.get_service_model(service), session.get_paginator_model(service)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _Keys:
    """One operation's paging keys and its limit's bounds, from AWS's models."""

    def __init__(self, service: str, operation: str) -> None:
        model, pagination = _models(service)
        config = pagination.get_paginator(operation)
        self.service = service
        self.token: str = config["input_token"]
        self.next: str = config["output_token"]
        self.limit: str = config["limit_key"]
        self.items: str = config["result_key"]
        request = model.operation_model(operation).input_shape
        # the request's own parameters, as named in the model and on the wire (EC2's query
        # form names a list's items `SubnetId.1`, ...: the part before the first dot)
        self.inputs = {
            name for member, shape in request.members.items()
            for name in (member, shape.serialization.get("name", member))
        } - {self.token, self.limit}  # fmt: skip
        shape = request.members[self.limit]
        self.bounds: tuple[int | None, int | None] = BOUNDS.get(
            operation, (shape.metadata.get("min"), shape.metadata.get("max"))
        )


def _invalid_limit(keys: _Keys, value: int) -> Exception:
    low, high = keys.bounds
    message = (
        f"Value ( {value} ) for parameter {keys.limit} is invalid. Expecting a value between "
        f"{low} and {high}."
    )
    if keys.service == "ec2":
        return EC2ClientError("InvalidParameterValue", message)
    if keys.service == "eks":
        return InvalidParameterException(message=message)
    return ValidationError(message)


def _invalid_token(keys: _Keys) -> Exception:
    if keys.service == "ec2":
        return EC2ClientError(
            "InvalidPaginationToken", "The specified pagination token is not valid or is expired."
        )
    if keys.service == "eks":
        return InvalidParameterException(message="The nextToken is not valid.")
    if keys.service == "elbv2":
        # Elastic Load Balancing API reference, common errors: ValidationError (400)
        return ValidationError("The marker is not valid.")
    return AutoscalingClientError("InvalidNextToken", "The token is not valid.")


def _parameters(response: Any) -> dict[str, Any]:
    """The request's parameters as this response class reads them."""
    if getattr(response, "automated_parameter_parsing", False):
        return response.params  # type: ignore[no-any-return]
    return response.querystring  # type: ignore[no-any-return]


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _fingerprint(response: Any, keys: _Keys) -> str:
    """What the token is bound to: the operation's path and every parameter but the paging."""
    params = {k: v for k, v in _parameters(response).items() if k.split(".", 1)[0] in keys.inputs}
    path = str(response.path).split("?", 1)[0]
    text = json.dumps([path, params], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode(offset: int, fingerprint: str) -> str:
    raw = json.dumps([offset, fingerprint]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, fingerprint: str) -> int | None:
    try:
        padded = token + "=" * (-len(token) % 4)
        offset, bound_to = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        return None
    if bound_to != fingerprint or not isinstance(offset, int) or offset < 0:
        return None
    return offset


def _everything(
    response: Any, keys: _Keys, original: Callable[[Any], Any]
) -> tuple[ActionResult, list[Any]]:
    """Every item the request selects: moto's own paging, where it has any, followed to its end
    (asked for as much as AWS allows a page)."""
    params = _parameters(response)
    automated = getattr(response, "automated_parameter_parsing", False)
    limit = keys.bounds[1] or _ALL
    items: list[Any] = []
    own_token = None
    while True:
        params[keys.limit] = limit if automated else [str(limit)]
        if own_token:
            params[keys.token] = own_token if automated else [str(own_token)]
        answer = original(response)
        params.pop(keys.limit, None)
        params.pop(keys.token, None)
        if not isinstance(answer, ActionResult):
            raise TypeError(f"{keys.items}: moto answered {type(answer).__name__}")
        result = cast(dict[str, Any], answer.result)
        items += list(result.get(keys.items) or [])
        own_token = result.get(keys.next)
        if not own_token:
            return answer, items


def _paged(keys: _Keys, original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def read(self: Any) -> Any:
        params = _parameters(self)
        asked = _first(params.pop(keys.limit, None))
        token = _first(params.pop(keys.token, None))
        fingerprint = _fingerprint(self, keys)
        limit = int(asked) if asked not in (None, "") else None
        low, high = keys.bounds
        if limit is not None and (
            (low is not None and limit < low) or (high is not None and limit > high)
        ):
            raise _invalid_limit(keys, limit)
        offset = 0
        if token not in (None, ""):
            decoded = _decode(str(token), fingerprint)
            if decoded is None:
                raise _invalid_token(keys)
            offset = decoded
        # moto parses EC2's query into the model's names (`SubnetIds`, ...)
        by_id = keys.service == "ec2" and any(k.endswith("Ids") and v for k, v in params.items())
        answer, items = _everything(self, keys, original)
        result = dict(cast(dict[str, Any], answer.result))
        size = limit if limit is not None else DEFAULT_LIMIT.get(keys.service)
        if _page_size is not None and not by_id:
            size = min(size, _page_size) if size is not None else _page_size
        result.pop(keys.next, None)
        if size is None:
            result[keys.items] = items[offset:]
        else:
            result[keys.items] = items[offset : offset + size]
            if offset + size < len(items):
                result[keys.next] = _encode(offset + size, fingerprint)
        return ActionResult(result)

    read.__name__ = getattr(original, "__name__", "read")
    return read


def pages_as_aws() -> None:
    """Wrap each read's response method (after every other gap, so the final method is
    wrapped); idempotent."""
    for service, operations in READS.items():
        response = _RESPONSES[service]
        for operation in operations:
            name = _snake(operation)
            original = getattr(response, name)
            if getattr(original, "_v6migrate_paged", False):
                continue
            wrapped = _paged(_Keys(service, operation), original)
            wrapped._v6migrate_paged = True  # type: ignore[attr-defined]
            setattr(response, name, wrapped)
