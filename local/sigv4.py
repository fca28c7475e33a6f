"""Checking a SigV4 request the way the service that receives it does: query-signed
(presigned), or signed in its Authorization header (API Gateway's IAM authorisation).

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
    canonical = _canonical_request(
        "GET", parsed.path or "/", [(k, v) for k, v in pairs if k != "X-Amz-Signature"],
        values, signed_names, EMPTY_BODY_SHA256,
    )  # fmt: skip
    _check(secret, date, region, service, query["X-Amz-Date"], canonical, signature)
    return key_id


def _canonical_request(
    method: str, path: str, pairs: list[tuple[str, str]], values: dict[str, str],
    signed_names: list[str], payload_sha256: str,
) -> str:  # fmt: skip
    """Method, path, sorted encoded query, the signed headers' `name:value` lines (values
    trimmed, inner runs of spaces made one), their names, the payload's SHA-256."""
    encoded = sorted((_encode(k), _encode(v)) for k, v in pairs)
    canonical_query = "&".join(f"{k}={v}" for k, v in encoded)
    canonical_headers = "".join(
        f"{name}:{' '.join(values[name].split())}\n" for name in signed_names
    )
    return "\n".join([
        method, path, canonical_query, canonical_headers, ";".join(signed_names), payload_sha256,
    ])  # fmt: skip


def _check(
    secret: str, date: str, region: str, service: str, stamp: str, canonical: str,
    signature: str,
) -> None:  # fmt: skip
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([
        "AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest(),
    ])  # fmt: skip
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise BadSignature("the signature does not match the request")


# A signed request is accepted within five minutes of its X-Amz-Date, either way (SigV4
# reference, "Elements of an AWS API request signature": the request's time stamp).
SKEW = datetime.timedelta(minutes=5)


def verify_signed(
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    secret_for: Callable[[str, str | None], str | None],
    now: datetime.datetime,
) -> tuple[str, str, str]:
    """(access key id, Region, service) of a request signed in its Authorization header, as
    received: `raw_path` as sent on the wire (already encoded once: the canonical URI encodes
    it again, as every service but S3 does), `headers` with lower-case names."""
    authorization = headers.get("authorization", "")
    algorithm, _, rest = authorization.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise BadSignature("Missing Authentication Token")
    try:
        fields = dict(part.strip().split("=", 1) for part in rest.split(",") if part.strip())
        key_id, date, region, service, terminator = fields["Credential"].split("/")
        signed_names = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
        amz_date = headers["x-amz-date"]
        stamp = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except (KeyError, ValueError) as error:
        raise BadSignature(f"Authorization header requires {error}") from error
    if terminator != "aws4_request" or date != stamp.strftime("%Y%m%d"):
        raise BadSignature("Credential should be scoped to a valid date and aws4_request")
    if abs(now - stamp) > SKEW:
        raise BadSignature(
            f"Signature expired: {amz_date} is outside the five minutes of {now:%Y%m%dT%H%M%SZ}"
        )
    if "host" not in signed_names:
        raise BadSignature("'Host' must be a signed header")
    secret = secret_for(key_id, headers.get("x-amz-security-token"))
    if secret is None:
        raise BadSignature("The security token included in the request is invalid")
    missing = [name for name in signed_names if name not in headers]
    if missing:
        raise BadSignature(f"signed headers missing from the request: {', '.join(missing)}")
    payload = (
        headers.get("x-amz-content-sha256") if "x-amz-content-sha256" in signed_names else None
    )
    canonical = _canonical_request(
        method, urllib.parse.quote(raw_path or "/", safe="/~"),
        urllib.parse.parse_qsl(query, keep_blank_values=True), headers, signed_names,
        payload or hashlib.sha256(body).hexdigest(),
    )  # fmt: skip
    _check(secret, date, region, service, amz_date, canonical, signature)
    return key_id, region, service
