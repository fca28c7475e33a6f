"""Who may call a cluster's Kubernetes API: EKS access entries, and STS answering the presigned
GetCallerIdentity URL that an EKS token carries.

EKS API reference: CreateAccessEntry, AssociateAccessPolicy, ListAccessEntries,
DescribeAccessEntry, DeleteAccessEntry (moto 5.2.5 has none). STS: a presigned (query-signed)
request names its signer in `X-Amz-Credential`; moto only reads the Authorization header, so a
presigned GetCallerIdentity answered as an unknown user.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.eks import urls as eks_urls
from moto.eks.exceptions import (
    InvalidRequestException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from moto.eks.models import EKSBackend
from moto.eks.responses import EKSResponse

from local.gaps.eks import _body, _invalid, authentication_mode

POLICIES = frozenset(
    f"arn:aws:eks::aws:cluster-access-policy/{name}"
    for name in (
        "AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy",
        "AmazonEKSViewPolicy", "AmazonEKSAdminViewPolicy",
    )
)  # fmt: skip


def entries(backend: EKSBackend, cluster: str) -> dict[str, dict[str, Any]]:
    if cluster not in backend.clusters:
        raise ResourceNotFoundException(
            clusterName=cluster, nodegroupName=None, fargateProfileName=None, addonName=None,
            message=f"No cluster found for name: {cluster}.",
        )  # fmt: skip
    store: dict[str, dict[str, dict[str, Any]]] = backend.__dict__.setdefault("_v6_access", {})
    return store.setdefault(cluster, {})


def _entry(backend: EKSBackend, cluster: str, principal: str) -> dict[str, Any]:
    found = entries(backend, cluster).get(principal)
    if found is None:
        raise ResourceNotFoundException(
            clusterName=cluster, nodegroupName=None, fargateProfileName=None, addonName=None,
            message=f"The specified principalArn could not be found: {principal}",
        )  # fmt: skip
    return found


def _principal(response: EKSResponse) -> str:
    path = urllib.parse.unquote(urllib.parse.urlparse(response.uri).path)
    match = re.search(r"/access-entries/(.+?)(/access-policies)?$", path)
    return match.group(1) if match else ""


def _iam_principal_exists(arn: str) -> bool:
    """EKS user guide, creating access entries: an entry names one existing IAM principal,
    exactly (a role's ARN with its path)."""
    from moto.iam.models import iam_backends

    account = arn.split(":")[4]
    for backend in iam_backends[account].values():
        if any(r.arn == arn for r in backend.roles.values()):
            return True
        if any(u.arn == arn for u in backend.users.values()):
            return True
    return False


def access_entries() -> None:
    if hasattr(EKSResponse, "create_access_entry"):
        return
    base = "{0}/clusters/(?P<name>[^/]+)/access-entries"
    # The principal ARN holds slashes: the server may see it decoded.
    for path in ("$", "/(?P<principalArn>.+)/access-policies$", "/(?P<principalArn>.+)$"):
        eks_urls.url_paths[base + path] = EKSResponse.dispatch

    def create(self: EKSResponse) -> ActionResult:
        body = _body(self)
        cluster = self._get_param("name")
        backend = self.eks_backend
        store = entries(backend, cluster)
        principal = body.get("principalArn", "")
        # EKS user guide, access entries: they need the API or API_AND_CONFIG_MAP mode.
        if authentication_mode(backend, cluster) == "CONFIG_MAP":
            raise InvalidRequestException(
                message="The cluster's authentication mode must be set to one of "
                "[API, API_AND_CONFIG_MAP] to perform this operation."
            )
        if not re.match(r"^arn:aws[\w-]*:iam::\d{12}:(role|user)/", principal) or not (
            _iam_principal_exists(principal)
        ):
            raise _invalid(f"The principalArn {principal} is not a valid IAM principal ARN")
        if principal in store:
            raise ResourceInUseException(
                clusterName=cluster, nodegroupName=None, fargateProfileName=None,
                addonName=None, message="The specified access entry resource is already in use "
                "on this cluster.",
            )  # fmt: skip
        now = datetime.now(UTC)
        store[principal] = {
            "clusterName": cluster,
            "principalArn": principal,
            "kubernetesGroups": body.get("kubernetesGroups", []),
            "accessEntryArn": f"arn:aws:eks:{backend.region_name}:{backend.account_id}:"
            f"access-entry/{cluster}/{abs(hash(principal)) % 10**10}",
            "createdAt": now,
            "modifiedAt": now,
            "tags": body.get("tags", {}),
            "username": body.get("username") or principal,
            "type": body.get("type", "STANDARD"),
            "_policies": {},
        }
        return ActionResult({"accessEntry": _public(store[principal])})

    def describe(self: EKSResponse) -> ActionResult:
        found = _entry(self.eks_backend, self._get_param("name"), _principal(self))
        return ActionResult({"accessEntry": _public(found)})

    def delete(self: EKSResponse) -> ActionResult:
        cluster = self._get_param("name")
        principal = _principal(self)
        _entry(self.eks_backend, cluster, principal)
        del entries(self.eks_backend, cluster)[principal]
        return ActionResult({})

    def list_entries(self: EKSResponse) -> ActionResult:
        found = sorted(entries(self.eks_backend, self._get_param("name")))
        return ActionResult({"accessEntries": found})

    def associate(self: EKSResponse) -> ActionResult:
        body = _body(self)
        cluster = self._get_param("name")
        principal = _principal(self)
        found = _entry(self.eks_backend, cluster, principal)
        policy = body.get("policyArn", "")
        if policy not in POLICIES:
            raise _invalid(f"The policyArn {policy} is not a valid EKS access policy")
        scope = body.get("accessScope") or {}
        if scope.get("type") not in ("cluster", "namespace"):
            raise _invalid("accessScope.type must be cluster or namespace")
        now = datetime.now(UTC)
        found["_policies"][policy] = {
            "policyArn": policy,
            "accessScope": scope,
            "associatedAt": now,
            "modifiedAt": now,
        }
        return ActionResult(
            {
                "clusterName": cluster,
                "principalArn": principal,
                "associatedAccessPolicy": found["_policies"][policy],
            }
        )

    def disassociate(self: EKSResponse) -> ActionResult:
        path = urllib.parse.unquote(urllib.parse.urlparse(self.uri).path)
        match = re.search(r"/access-entries/(.+)/access-policies/(.+)$", path)
        if not match:
            raise _invalid("principalArn and policyArn are required")
        principal, policy = match.groups()
        found = _entry(self.eks_backend, self._get_param("name"), principal)
        found["_policies"].pop(policy, None)
        return ActionResult({})

    EKSResponse.disassociate_access_policy = disassociate  # type: ignore[attr-defined]
    EKSResponse.create_access_entry = create  # type: ignore[attr-defined]
    EKSResponse.describe_access_entry = describe  # type: ignore[attr-defined]
    EKSResponse.delete_access_entry = delete  # type: ignore[attr-defined]
    EKSResponse.list_access_entries = list_entries  # type: ignore[attr-defined]
    EKSResponse.associate_access_policy = associate  # type: ignore[attr-defined]


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def policies(backend: EKSBackend, cluster: str, principal: str) -> list[dict[str, Any]]:
    found = entries(backend, cluster).get(principal)
    return list(found["_policies"].values()) if found else []


def presigned_identity() -> None:
    """A presigned (query-signed) request is routed and attributed by its `X-Amz-Credential`.

    SigV4 query authentication carries the credential scope in the query string (SigV4
    reference, "Authenticating requests: using query parameters"); moto's server only reads
    the Authorization header, so a presigned STS GetCallerIdentity went to S3 as anonymous.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.infer_service_region_host
    if getattr(original, "_v6migrate", False):
        return

    def infer_service_region_host(
        self: DomainDispatcherApplication, environ: dict[str, Any], path: str
    ) -> str | None:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        credential = (query.get("X-Amz-Credential") or [""])[0]
        if credential and not environ.get("HTTP_AUTHORIZATION"):
            signed = (query.get("X-Amz-SignedHeaders") or [""])[0]
            signature = (query.get("X-Amz-Signature") or [""])[0]
            environ["HTTP_AUTHORIZATION"] = (
                f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, "
                f"Signature={signature}"
            )
        return original(self, environ, path)

    infer_service_region_host._v6migrate = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.infer_service_region_host = infer_service_region_host  # type: ignore[method-assign]


# Long-term access keys the embedded AWS hands out itself (`local.server`'s credentials):
# key id -> secret. Keys of IAM users made through the API and STS sessions are found in
# moto's own stores.
LONG_TERM_KEYS: dict[str, str] = {}


def secret_of(access_key_id: str, session_token: str | None) -> str | None:
    """The secret of a key the embedded AWS knows, as STS looks it up to check a signature;
    None for an unknown key, or a session token that is not the key's."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account in list(sts_backends):
        for backend in sts_backends[account].values():
            role = backend.get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                return str(role.secret_access_key) if role.session_token == session_token else None
    if session_token:
        return None
    for account in list(iam_backends):
        for iam in iam_backends[account].values():
            for user in iam.users.values():
                for key in user.access_keys:
                    if key.access_key_id == access_key_id:
                        return str(key.secret_access_key)
    return LONG_TERM_KEYS.get(access_key_id)


def identity_of(access_key_id: str, region: str) -> tuple[str, str, str]:
    """(user id, ARN, account) of a key, as GetCallerIdentity answers its holder: an STS
    session's assumed-role ARN, an IAM user's ARN, or moto's own answer for the embedded AWS's
    long-term key."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sts.models import sts_backends

    for account in list(sts_backends):
        for backend in sts_backends[account].values():
            if backend.get_assumed_role_from_access_key(access_key_id) is not None:
                return backend.get_caller_identity(access_key_id, region)
    return sts_backends[DEFAULT_ACCOUNT_ID]["aws"].get_caller_identity(access_key_id, region)


def presigned_signatures_checked() -> None:
    """STS checks a presigned (query-signed) request's signature before it answers: over the
    URL and every header named in `X-Amz-SignedHeaders`, with the key's secret, within
    `X-Amz-Expires` (SigV4 reference, query-string authentication). A request altered, sent
    without a signed header's value, or expired is refused: SignatureDoesNotMatch, 403. moto
    answers any such request with the key's identity."""
    from moto.core.exceptions import SignatureDoesNotMatchError
    from moto.sts.responses import TokenResponse

    from local.sigv4 import BadSignature, verify_presigned

    original = TokenResponse.get_caller_identity
    if getattr(original, "_v6migrate", False):
        return

    def get_caller_identity(self: Any) -> Any:
        if "X-Amz-Signature" in self.querystring:
            url = f"http://{self.headers.get('Host', '')}{urllib.parse.urlparse(self.uri).path}"
            url += "?" + urllib.parse.urlencode(
                [(k, v) for k, values in self.querystring.items() for v in values]
            )
            headers = {str(k).lower(): str(v) for k, v in self.headers.items()}
            try:
                verify_presigned(url, headers, secret_of, datetime.now(UTC))
            except BadSignature as error:
                raise SignatureDoesNotMatchError() from error
        return original(self)

    get_caller_identity._v6migrate = True  # type: ignore[attr-defined]
    TokenResponse.get_caller_identity = get_caller_identity  # type: ignore[method-assign]
