"""No request to the embedded AWS, however malformed, gets an HTML page or a 500 (issue 12).

Sent over HTTP as any client would send them, to each service the workflow uses, in each
protocol's form. AWS answers each with a client error in the protocol's error shape (AWS common
errors: InvalidAction, ValidationError; JSON protocols: UnknownOperationException,
SerializationException), which botocore parses into a code: local/gaps/malformed.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from local.server import EmbeddedAws


def _auth(service: str) -> str:
    scope = f"embedded/20261206/eu-west-1/{service}/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=00"


def _send(
    endpoint: str, service: str, body: str, path: str = "/", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(
        endpoint + path, data=body.encode(), method="POST",
        headers={"Authorization": _auth(service), **(headers or {})},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def _code(headers: dict[str, str], body: str) -> str:
    """The error code as botocore finds it, in whichever protocol's shape."""
    if body.lstrip().startswith("<"):
        root = ET.fromstring(body)
        codes = [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Code"]
        return codes[0] if codes else ""
    lowered = {k.lower(): v for k, v in headers.items()}
    return str(lowered.get("x-amzn-errortype") or json.loads(body).get("__type", ""))


QUERY = "application/x-www-form-urlencoded"
CASES = [
    # (service, body, path, headers, the code AWS answers)
    ("ec2", "Action=DescribeNothing&Version=2016-11-15", "/", {"Content-Type": QUERY},
     "InvalidAction"),
    ("ec2", "Action=CreateSubnet&Version=2016-11-15&VpcId=vpc-1&CidrBlock=10.0.300.0/24", "/",
     {"Content-Type": QUERY}, None),
    ("autoscaling", "Action=DescribeNothing&Version=2011-01-01", "/", {"Content-Type": QUERY},
     "InvalidAction"),
    ("elasticloadbalancing", "Action=DescribeNothing&Version=2015-12-01", "/",
     {"Content-Type": QUERY}, "InvalidAction"),
    ("sts", "Action=DescribeNothing&Version=2011-06-15", "/", {"Content-Type": QUERY},
     "InvalidAction"),
    ("iam", "Action=DescribeNothing&Version=2010-05-08", "/", {"Content-Type": QUERY},
     "InvalidAction"),
    ("dynamodb", "{}", "/", {"X-Amz-Target": "DynamoDB_20120810.DescribeNothing",
     "Content-Type": "application/x-amz-json-1.0"}, "UnknownOperationException"),
    ("dynamodb", "{not json", "/", {"X-Amz-Target": "DynamoDB_20120810.GetItem",
     "Content-Type": "application/x-amz-json-1.0"}, "SerializationException"),
    ("ssm", "{not json", "/", {"X-Amz-Target": "AmazonSSM.GetParameter",
     "Content-Type": "application/x-amz-json-1.1"}, "SerializationException"),
    ("states", "{not json", "/", {"X-Amz-Target": "AWSStepFunctions.StartExecution",
     "Content-Type": "application/x-amz-json-1.0"}, "SerializationException"),
    ("events", "{not json", "/", {"X-Amz-Target": "AWSEvents.PutEvents",
     "Content-Type": "application/x-amz-json-1.1"}, "SerializationException"),
    ("eks", "{not json", "/clusters", {"Content-Type": "application/json"},
     "SerializationException"),
    ("networkmanager", "{not json", "/global-networks", {"Content-Type": "application/json"},
     "SerializationException"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("service", "body", "path", "headers", "expected"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_a_malformed_request_gets_a_client_error_in_the_protocols_shape(
    embedded: EmbeddedAws,
    service: str,
    body: str,
    path: str,
    headers: dict[str, str],
    expected: str | None,
) -> None:
    # When the request is sent over HTTP
    status, answer_headers, answer = _send(embedded.endpoint, service, body, path, headers)
    # Then it is a client error with a code botocore can read, never an HTML page or a 500
    assert "<html" not in answer.lower()[:200], answer[:200]
    assert 400 <= status < 500, (status, answer[:300])
    code = _code(answer_headers, answer)
    assert code, answer[:300]
    if expected is not None:
        assert code == expected, answer[:300]
