"""A client of the v6migrate REST API: SigV4-signed (service `execute-api`) with the session's
credentials, as API Gateway's IAM authorisation expects."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any  # the JSON answer, or the text if it is not JSON


def call(
    session: Any, base_url: str, method: str, path: str, body: Any = None,
    region: str | None = None, sign: bool = True, timeout: float = 60,
    headers: dict[str, str] | None = None,
) -> Answer:  # fmt: skip
    """Send one request to `<base_url><path>`; every answer is returned, errors too."""
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    sent = {"Content-Type": "application/json"} if data is not None else {}
    sent.update(headers or {})
    request = AWSRequest(method=method, url=base_url + path, data=data, headers=sent)
    if sign:
        credentials = session.get_credentials().get_frozen_credentials()
        SigV4Auth(credentials, "execute-api", region or session.region_name).add_auth(request)
    prepared = request.prepare()
    outgoing = urllib.request.Request(  # noqa: S310 (the API's URL, from the stack's outputs)
        prepared.url, data=data, headers=dict(prepared.headers), method=method
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=timeout) as response:  # noqa: S310
            status, answer_headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, dict(error.headers), error.read()
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, answer_headers, parsed)
