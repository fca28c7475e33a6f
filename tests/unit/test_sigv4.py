"""The embedded AWS checks header-signed requests as a service does (local/sigv4.verify_signed),
held to a published known-good vector, not to the project's own signer."""

from __future__ import annotations

import datetime

import pytest

from local.sigv4 import BadSignature, verify_signed

# A known-good SigV4 vector published with Kroxylicious's signer tests: POST "somedata" to
# http://localhost:4566 as key `access`/`secret`, us-east-1, service kms, at 1715950890
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=access/20240517/us-east-1/kms/aws4_request, "
    "SignedHeaders=host;x-amz-date, "
    "Signature=d01abf110351d12d715fa037454491f580f6b92e70345f7c4d3af583bc6637e5"
)
HEADERS = {"host": "localhost:4566", "x-amz-date": "20240517T130130Z",
           "authorization": AUTHORIZATION}  # fmt: skip
AT = datetime.datetime.fromtimestamp(1715950890, tz=datetime.UTC)


def _secret(key: str, token: str | None) -> str | None:
    return "secret" if (key, token) == ("access", None) else None


def test_a_published_vector_verifies() -> None:
    assert verify_signed("POST", "/", "", HEADERS, b"somedata", _secret, AT) == (
        "access", "us-east-1", "kms",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"body": b"otherdata"}, "the signature does not match"),
        ({"method": "PUT"}, "the signature does not match"),
        ({"path": "/x"}, "the signature does not match"),
        ({"query": "a=1"}, "the signature does not match"),
        ({"headers": {**HEADERS, "host": "localhost:4567"}}, "the signature does not match"),
        ({"at": AT + datetime.timedelta(minutes=6)}, "Signature expired"),
        ({"at": AT - datetime.timedelta(minutes=6)}, "Signature expired"),
        ({"headers": {k: v for k, v in HEADERS.items() if k != "authorization"}},
         "Missing Authentication Token"),
        ({"secret": lambda key, token: None}, "security token included in the request is invalid"),
        ({"secret": lambda key, token: "other"}, "the signature does not match"),
    ],
)  # fmt: skip
def test_anything_altered_is_refused(change: dict[str, object], why: str) -> None:
    call = {"method": "POST", "path": "/", "query": "", "headers": HEADERS, "body": b"somedata",
            "secret": _secret, "at": AT, **change}  # fmt: skip
    with pytest.raises(BadSignature, match=why):
        verify_signed(
            call["method"],
            call["path"],
            call["query"],
            call["headers"],
            call["body"],  # type: ignore[arg-type]
            call["secret"],
            call["at"],  # type: ignore[arg-type]
        )
