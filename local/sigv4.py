"""Checking a SigV4 query-signed (presigned) request the way the service that receives it does.

Written from the AWS Signature Version 4 reference ("Create a signed AWS API request" and
"Authenticating requests: using query parameters"): the canonical request (method, path,
canonical query string without `X-Amz-Signature`, the signed headers' `name:value` lines, the
signed header names, the payload's SHA-256, that of an empty body for a GET), the string to sign
(`AWS4-HMAC-SHA256`, the request date, the credential scope, the canonical request's SHA-256),
and the signing key derived from the secret by HMAC over date, Region, service and
`aws4_request`. The simulated EKS authenticator uses it on the token's URL with the
`x-k8s-aws-id` header set to the cluster being called, as EKS does (aws-iam-authenticator), so a
token signed for another cluster, altered, or expired is refused. It never calls the project's
own signing code.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import urllib.parse
from collections.abc import Callable

EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


class BadSignature(ValueError):
    """The presigned request does not verify; the message says why."""


def _encode(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def verify_presigned(
    url: str,
    headers: dict[str, str],
    secret_for: Callable[[str, str | None], str | None],
    now: datetime.datetime,
) -> str:
    """The access key id that signed `url`, sent with `headers` (lower-case names), at `now`.

    `secret_for(access_key_id, session_token)` is the credential store's answer: the secret
    key, or None for an unknown key or a session token that is not the key's.
    """
    parsed = urllib.parse.urlparse(url)
    pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
    query = dict(pairs)
    if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise BadSignature("the request is not signed with AWS4-HMAC-SHA256")
    try:
        key_id, date, region, service, terminator = query["X-Amz-Credential"].split("/")
        stamp = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.UTC
        )
        expires = int(query["X-Amz-Expires"])
        signed_names = query["X-Amz-SignedHeaders"].split(";")
        signature = query["X-Amz-Signature"]
    except (KeyError, ValueError) as error:
        raise BadSignature(f"the presigned request is malformed ({error})") from error
    if terminator != "aws4_request" or date != stamp.strftime("%Y%m%d"):
        raise BadSignature("the credential scope does not match the request date")
    if now > stamp + datetime.timedelta(seconds=expires):
        raise BadSignature("the request has expired")
    secret = secret_for(key_id, query.get("X-Amz-Security-Token"))
    if secret is None:
        raise BadSignature("the security token included in the request is invalid")
    values = {**{k.lower(): v for k, v in headers.items()}, "host": parsed.netloc}
    missing = [name for name in signed_names if name not in values]
    if missing:
        raise BadSignature(f"signed headers missing from the request: {', '.join(missing)}")
    canonical_query = "&".join(
        f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs) if k != "X-Amz-Signature"
    )
    canonical_headers = "".join(f"{name}:{values[name].strip()}\n" for name in signed_names)
    canonical = "\n".join([
        "GET", parsed.path or "/", canonical_query, canonical_headers,
        ";".join(signed_names), EMPTY_BODY_SHA256,
    ])  # fmt: skip
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([
        "AWS4-HMAC-SHA256", query["X-Amz-Date"], scope,
        hashlib.sha256(canonical.encode()).hexdigest(),
    ])  # fmt: skip
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise BadSignature("the signature does not match the request")
    return key_id
