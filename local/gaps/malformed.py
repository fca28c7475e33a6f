"""Every answer is AWS-shaped, whatever the request (issue 12, item 3).

moto 5.2.5 answers some requests with a Python error turned into an HTML page and HTTP 500: an
action no service has (`OperationNotFoundError`), a body it cannot parse (`TypeError`,
`ValueError`, ...), an action it has not implemented (`NotImplementedError`). AWS answers each
with a client error (4xx) in the protocol's own error shape, which botocore parses into a
`ClientError` with a code:

- an unknown action: `InvalidAction`, 400 (AWS common errors: "The action or operation requested
  is invalid"); JSON protocols name it `UnknownOperationException`, 400;
- a body that is not JSON, on a JSON protocol: `SerializationException`, 400;
- any other malformed input: the protocol's validation error, 400 (EC2
  `InvalidParameterValue`, the query services' `ValidationError`, JSON's `ValidationException`,
  EKS's `InvalidParameterException`);
- an action AWS has and the embedded AWS does not: `InvalidAction`, 400, saying so (never a 500,
  which clients retry).

The error shapes are the protocols' own (botocore's parsers read them): `Response/Errors/Error`
for EC2, `ErrorResponse/Error` for query, `__type` for JSON, `x-amzn-ErrorType` for REST-JSON.
"""

from __future__ import annotations

import json
import uuid
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from moto.core.responses import BaseResponse
from werkzeug.exceptions import HTTPException

# the services whose REST-JSON validation error has a name of its own
_REST_VALIDATION = {"eks": "InvalidParameterException"}
# REST-JSON services whose request body is a blob of the caller's (Lambda's Invoke payload)
_BLOBS = frozenset({"lambda", "s3"})


@cache
def _protocol(service: str) -> str:
    import botocore.session

    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:  # a service botocore does not know: answer as a query service
        return "query"
    return str(model.metadata.get("protocol", "query"))


def _not_json(body: Any) -> bool:
    if not body:
        return False
    try:
        json.loads(body)
    except (ValueError, TypeError):
        return True
    return False


def _classify(error: BaseException, protocol: str, service: str) -> tuple[str, str]:
    from botocore.model import OperationNotFoundError

    if isinstance(error, OperationNotFoundError):
        code = "UnknownOperationException" if protocol == "json" else "InvalidAction"
        return code, f"The action {error} is not valid for this web service."
    if isinstance(error, NotImplementedError):
        return "InvalidAction", f"The embedded AWS does not implement this action: {error}"
    if isinstance(error, json.JSONDecodeError) and protocol in ("json", "rest-json"):
        return "SerializationException", "The request body is not valid JSON."
    code = {
        "ec2": "InvalidParameterValue",
        "query": "ValidationError",
        "json": "ValidationException",
    }.get(protocol, _REST_VALIDATION.get(service, "ValidationException"))
    return code, f"The request is malformed ({type(error).__name__})."


def error_response(service: str, code: str, message: str, status: int = 400) -> Any:
    """(status, headers, body) of an error in the service's protocol."""
    protocol = _protocol(service)
    request_id = str(uuid.uuid4())
    if protocol == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{escape(code)}</Code><Message>{escape(message)}"
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return status, {"status": status, "Content-Type": "text/xml"}, body
    if protocol in ("query", "rest-xml"):
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code><Message>"
            f"{escape(message)}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
        return status, {"status": status, "Content-Type": "text/xml"}, body
    headers = {
        "status": status,
        "Content-Type": "application/json" if protocol != "json" else "application/x-amz-json-1.1",
        "x-amzn-ErrorType": code,
        "x-amzn-RequestId": request_id,
    }
    return status, headers, json.dumps({"__type": code, "message": message})


def aws_shaped_errors() -> None:
    """Wrap moto's request handling: what escapes it as a Python error answers as AWS would."""
    original = BaseResponse._dispatch
    if getattr(original, "_v6migrate", False):
        return

    def _dispatch(self: BaseResponse, request: Any, *args: Any, **kwargs: Any) -> Any:
        service = str(getattr(self, "service_name", "") or "")
        protocol = _protocol(service)
        body = getattr(request, "data", None)
        if protocol in ("json", "rest-json") and service not in _BLOBS and _not_json(body):
            # before moto, which may ignore a body it cannot read and carry the call out
            return error_response(service, "SerializationException", "The body is not JSON.")
        try:
            return original(self, request, *args, **kwargs)
        except HTTPException:
            raise  # an answer already (moto's auth errors: SignatureDoesNotMatch, 403, ...)
        except Exception as error:  # moto's own service errors are answered inside
            code, message = _classify(error, protocol, service)
            return error_response(service, code, message)

    _dispatch._v6migrate = True  # type: ignore[attr-defined]
    BaseResponse._dispatch = _dispatch  # type: ignore[method-assign]


def unknown_paths() -> None:
    """A path no operation of the service has: the service's JSON or XML error, 404
    (`UnknownOperationException`; its code for REST services is UNCONFIRMED), not werkzeug's
    HTML page. moto's server makes one Flask app per service; each gets this 404 and 405."""
    from moto.moto_server import threaded_moto_server, werkzeug_app

    original = werkzeug_app.create_backend_app
    if getattr(original, "_v6migrate", False):
        return

    def create_backend_app(service: Any) -> Any:
        app = original(service)

        def unknown(error: Any) -> Any:
            code = (
                "UnknownOperationException" if _protocol(str(service)) != "ec2" else "InvalidAction"
            )
            status, headers, body = error_response(
                str(service), code, "No operation of this service matches the request.", 404
            )
            return body, status, {k: v for k, v in headers.items() if k != "status"}

        app.register_error_handler(404, unknown)
        app.register_error_handler(405, unknown)
        return app

    create_backend_app._v6migrate = True  # type: ignore[attr-defined]
    werkzeug_app.create_backend_app = create_backend_app
    threaded_moto_server.create_backend_app = create_backend_app  # type: ignore[attr-defined]
