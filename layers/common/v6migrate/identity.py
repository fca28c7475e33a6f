"""Who is deciding: a caller proves their IAM identity to a function they invoke.

A direct Lambda invocation carries no caller identity. The caller sends instead a presigned STS
GetCallerIdentity URL that signs a header binding it to one purpose (`x-v6migrate-approval:
<approval id>:<decision>`), valid 60 s; the function sends that request to its own Region's STS
endpoint with the header, and STS, which checks the SigV4 signature over the URL and the
header, answers the caller's ARN (as EKS's authenticator does with `x-k8s-aws-id`; SigV4
reference, query-string authentication). A proof altered, for another purpose, expired, or
aimed at another host is refused; the function never learns a credential.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from v6migrate.errors import InputError

PURPOSE_HEADER = "x-v6migrate-approval"
PROOF_SECONDS = 60

# How the proof reaches STS (swapped in tests that have no sockets)
OPENER: Any = urllib.request.urlopen


class ProofRefused(InputError):
    """The proof of identity does not hold; the message says why (never the proof)."""


def presigned_identity(sts: Any, header: str, value: str, seconds: int) -> str:
    """A presigned GetCallerIdentity URL of the caller's that signs `header: value` too (an EKS
    token's `x-k8s-aws-id`, a decision's purpose), valid `seconds`."""

    def sign_header(request: Any, **_: Any) -> None:
        request.headers[header] = value

    events = sts.meta.events
    events.register("before-sign.sts.GetCallerIdentity", sign_header)
    try:
        url: str = sts.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=seconds, HttpMethod="GET"
        )
    finally:
        events.unregister("before-sign.sts.GetCallerIdentity", sign_header)
    return url


def make_proof(sts: Any, purpose: str) -> str:
    """A proof of the caller's identity for `purpose` (`<approval id>:<decision>`)."""
    return presigned_identity(sts, PURPOSE_HEADER, purpose, PROOF_SECONDS)


def prove(proof: str, purpose: str, sts_endpoint: str) -> str:
    """The ARN of the caller who signed `proof` for `purpose`, as STS at `sts_endpoint`
    (the function's own) finds it."""
    url = urllib.parse.urlparse(proof)
    home = urllib.parse.urlparse(sts_endpoint)
    if (url.scheme, url.netloc) != (home.scheme, home.netloc) or url.path not in ("", "/"):
        raise ProofRefused(f"the proof is not addressed to this Region's STS ({home.netloc})")
    query = urllib.parse.parse_qs(url.query)
    if query.get("Action") != ["GetCallerIdentity"]:
        raise ProofRefused("the proof is not a GetCallerIdentity request")
    if PURPOSE_HEADER not in (query.get("X-Amz-SignedHeaders") or [""])[0].split(";"):
        raise ProofRefused(f"the proof does not sign {PURPOSE_HEADER}")
    try:
        expires = int((query.get("X-Amz-Expires") or ["0"])[0])
    except ValueError as error:
        raise ProofRefused("the proof's expiry is not a number") from error
    if not 0 < expires <= PROOF_SECONDS:
        raise ProofRefused(f"the proof must expire within {PROOF_SECONDS} s")
    request = urllib.request.Request(proof, headers={PURPOSE_HEADER: purpose})  # noqa: S310
    try:
        with OPENER(request, timeout=10) as answer:
            document = answer.read().decode()
    except urllib.error.HTTPError as error:
        code = re.search(r"<Code>([^<]+)</Code>", error.read().decode(errors="replace"))
        raise ProofRefused(
            f"STS refused the proof ({code.group(1) if code else error.code}): altered, "
            "for another decision, or expired"
        ) from error
    except OSError as error:
        raise ProofRefused(f"STS could not be reached to check the proof ({error})") from error
    found = re.search(r"<Arn>([^<]+)</Arn>", document)
    if not found:
        raise ProofRefused("STS named no caller")
    return found.group(1)
