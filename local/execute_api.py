"""API Gateway's `execute-api` for the template's REST API: moto models REST APIs but does not
run them, so this serves their routes as API Gateway does for a Lambda proxy integration.

Written from the API Gateway developer guide: IAM authorisation checks the request's SigV4
signature (service `execute-api`) and passes the caller in `requestContext.identity`
(`userArn`, `caller`, `accountId`, `accessKey`, `sourceIp`, `userAgent`); a route with no
authoriser passes none. A request matching no resource and method is answered
`403 {"message": "Missing Authentication Token"}` (the MISSING_AUTHENTICATION_TOKEN gateway
response, whatever the auth), a bad signature INVALID_SIGNATURE (403), an expired one
EXPIRED_TOKEN (403); a function that fails or answers something that is not a proxy response
is `502 {"message": "Internal server error"}`. The proxy event is the REST (version 1.0) format:
`resource`, `path`, `httpMethod`, `headers`/`multiValueHeaders`, `queryStringParameters`/
`multiValueQueryStringParameters`, `pathParameters`, `body`, `isBase64Encoded`,
`requestContext`. Served on its own port: `<url>/<api id>/<stage>/<path>` stands for
`https://<api id>.execute-api.<region>.amazonaws.com/<stage>/<path>`.

A route with a Cognito user pool authoriser takes only an ID token of that pool in the
`Authorization` header (signed with the pool's key, its issuer the pool, not expired): else
`401 {"message": "Unauthorized"}`; its claims reach the function in
`requestContext.authorizer.claims`.

Not simulated: the caller's IAM policy for `execute-api:Invoke` (the embedded AWS evaluates no
identity policies), usage plans and throttling, the 29 s integration timeout, authorisers'
result caching, OAuth scopes on a method (access tokens).
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local import httpd, runtime
from local.gaps.access import identity_of, secret_of
from local.sigv4 import BadSignature, verify_signed


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ...
    resource: str  # /migrations/{migration_id}
    function: str  # the function's ARN or name
    iam: bool = True  # AWS_IAM authorisation; False: none (a route that checks its own)
    user_pool: str | None = None  # a Cognito user pool authoriser: the pool's id

    def match(self, path: str) -> dict[str, str] | None:
        found = _pattern(self.resource).fullmatch(path)
        if found is None:
            return None
        return {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}


@functools.cache
def _pattern(resource: str) -> re.Pattern[str]:
    """/migrations/{migration_id} -> a regex with a named group per path parameter."""
    return re.compile(re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource)))


@dataclass
class RestApi:
    api_id: str
    account_id: str
    region: str
    stage: str
    routes: list[Route] = field(default_factory=list)


# Gateway responses (name, status, x-amzn-ErrorType) as API Gateway sends them by default
MISSING_TOKEN = (403, "MissingAuthenticationTokenException", "Missing Authentication Token")
INTERNAL = (502, None, "Internal server error")


class ExecuteApi:
    def __init__(self) -> None:
        self.apis: dict[str, RestApi] = {}
        self.url = ""
        self._server: ThreadingHTTPServer | None = None

    def register(self, api: RestApi) -> None:
        self.apis[api.api_id] = api

    def start(self) -> ExecuteApi:
        if self._server is not None:
            return self
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, data = gateway.handle(
                    self.command, self.path, list(self.headers.items()), body,
                    self.client_address[0],
                )  # fmt: skip
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        self._server, self.url = httpd.serve(Handler, "v6-execute-api")
        return self

    def stop(self) -> None:
        httpd.shut(self._server)
        self._server, self.url = None, ""
        self.apis.clear()

    # ------------------------------------------------------------------ requests

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source: str
    ) -> tuple[int, dict[str, str], bytes]:
        raw_path, _, query = target.partition("?")
        parts = raw_path.split("/", 3)  # "", api id, stage, rest
        api = self.apis.get(parts[1]) if len(parts) > 2 else None
        if api is None or parts[2] != api.stage:
            return _gateway(403, "ForbiddenException", "Forbidden")
        path = "/" + (parts[3] if len(parts) > 3 else "")
        matches = ((r, r.match(path)) for r in api.routes if r.method == method)
        route, parameters = next(((r, p) for r, p in matches if p is not None), (None, None))
        if route is None or parameters is None:
            return _gateway(*MISSING_TOKEN)
        lowered = {name.lower(): value for name, value in headers}
        identity: dict[str, Any] = {"sourceIp": source, "userAgent": lowered.get("user-agent")}
        if route.iam:
            try:
                key_id, region, service = verify_signed(
                    method, raw_path, query, lowered, body, secret_of,
                    datetime.datetime.now(datetime.UTC),
                )  # fmt: skip
            except BadSignature as error:
                text = str(error)
                if text == "Missing Authentication Token":
                    return _gateway(*MISSING_TOKEN)
                if text.startswith("Signature expired"):
                    return _gateway(403, "InvalidSignatureException", text)
                if "security token" in text:
                    return _gateway(403, "UnrecognizedClientException", text)
                return _gateway(403, "InvalidSignatureException", text)
            if service != "execute-api" or region != api.region:
                return _gateway(
                    403, "InvalidSignatureException",
                    f"Credential should be scoped to correct service ('execute-api') and "
                    f"Region ('{api.region}')",
                )  # fmt: skip
            user_id, arn, account = identity_of(key_id, api.region)
            identity.update(
                accessKey=key_id, accountId=account, caller=user_id, user=user_id, userArn=arn
            )
        authorizer: dict[str, Any] | None = None
        if route.user_pool:
            claims = pool_claims(lowered.get("authorization", ""), route.user_pool, api.region)
            if claims is None:
                return _gateway(401, "UnauthorizedException", "Unauthorized")
            authorizer = {"claims": claims}
        event = _proxy_event(api, route, method, path, query, headers, body, parameters, identity)
        if authorizer is not None:
            event["requestContext"]["authorizer"] = authorizer
        response_headers: dict[str, Any] = {}
        payload = runtime.invoke(route.function, json.dumps(event), response_headers)
        return _proxy_response(payload, failed="x-amz-function-error" in response_headers)


@functools.cache
def _pool_keys() -> Any:
    """The public keys the embedded Cognito signs every pool's tokens with (what
    `<pool>/.well-known/jwks.json` serves)."""
    import gzip
    from importlib import resources

    from joserfc import jwk

    raw = resources.files("moto.cognitoidp").joinpath("resources/jwks-public.json.gz")
    return jwk.KeySet.import_key_set(json.loads(gzip.decompress(raw.read_bytes())))


def pool_claims(token: str, pool: str, region: str) -> dict[str, str] | None:
    """A Cognito user pool authoriser's check (API Gateway developer guide, "Control access to
    REST APIs using Amazon Cognito user pools as the authorizer"): the `Authorization` header
    holds an ID token of the pool (signed by the pool's key, its issuer the pool, not expired);
    its claims reach the function as strings. None: API Gateway answers 401 Unauthorized."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    try:
        decoded = jwt.decode(token, _pool_keys(), algorithms=["RS256"])
    except (JoseError, ValueError, TypeError):
        return None
    claims = decoded.claims
    issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool}"
    expires = claims.get("exp")
    if claims.get("iss") != issuer or claims.get("token_use") != "id":
        return None
    if not isinstance(expires, int) or expires <= datetime.datetime.now(datetime.UTC).timestamp():
        return None
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}


def _gateway(status: int, kind: str | None, message: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": str(uuid.uuid4())}
    if kind:
        headers["x-amzn-ErrorType"] = kind
    return status, headers, json.dumps({"message": message}).encode()


def _proxy_event(
    api: RestApi, route: Route, method: str, path: str, query: str,
    headers: list[tuple[str, str]], body: bytes, parameters: dict[str, str],
    identity: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
    now = datetime.datetime.now(datetime.UTC)
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    blank = dict.fromkeys(
        ("accessKey", "accountId", "caller", "user", "userArn", "cognitoIdentityId",
         "cognitoIdentityPoolId", "cognitoAuthenticationType", "cognitoAuthenticationProvider",
         "principalOrgId", "apiKey", "apiKeyId"),
    )  # fmt: skip
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource,
        "path": path,
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": api.account_id,
            "apiId": api.api_id,
            "resourceId": re.sub(r"[^a-z0-9]", "", route.resource.lower())[:10] or "root",
            "resourcePath": route.resource,
            "httpMethod": method,
            "path": f"/{api.stage}{path}",
            "stage": api.stage,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "domainName": f"{api.api_id}.execute-api.{api.region}.amazonaws.com",
            "identity": {**blank, **identity},
        },
        "body": text or None,
        "isBase64Encoded": encoded,
    }


def _proxy_response(payload: bytes, failed: bool) -> tuple[int, dict[str, str], bytes]:
    """A proxy integration's answer: statusCode, headers, multiValueHeaders, body,
    isBase64Encoded; anything else, or a failed function, is a 502."""
    try:
        answer = json.loads(payload)
        status = int(answer["statusCode"])
    except (ValueError, KeyError, TypeError):
        return _gateway(*INTERNAL)
    if failed or not isinstance(answer, dict):
        return _gateway(*INTERNAL)
    headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        headers[str(name)] = ", ".join(str(v) for v in values)
    headers.setdefault("x-amzn-RequestId", str(uuid.uuid4()))
    body = answer.get("body") or ""
    data = base64.b64decode(body) if answer.get("isBase64Encoded") else str(body).encode()
    return status, headers, data


EXECUTE_API = ExecuteApi()
