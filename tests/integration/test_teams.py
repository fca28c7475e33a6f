"""Decisions from Teams people, signed in through the organisation's identity provider (issue
11, item 2). A Teams Workflows card cannot call back, so it links to a confirmation page; the
page signs the person in (a Cognito user pool federated with Entra ID over OIDC) and decides
only with a POST that carries the ID token, which API Gateway's Cognito authoriser checks
(API Gateway developer guide, "Control access to REST APIs using Amazon Cognito user pools":
the token from the `Authorization` header, signed by the pool, not expired; else 401
Unauthorized; the claims reach the function in `requestContext.authorizer.claims`). The person
is `entra:<tenant id>/<object id>` (Entra's `tid` and `oid`, mapped to the pool's `custom:tid`
and `custom:oid`: Microsoft identity platform, ID token claims). The federation itself is not
simulated: the test signs in a pool user who carries those attributes, as a federated one
would."""

from __future__ import annotations

import base64
import gzip
import json
import time
from importlib import resources
from typing import Any

import pytest
from botocore.exceptions import ClientError
from joserfc import jwk, jwt

from local.federation import signed_in
from tests.integration.conftest import Stack
from tests.integration.test_slack import _state, _waiting_run

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ALICE = "4a1c2e8d-0b7f-4f3e-9c61-2f0d8e5b7a11"
MALLORY = "9d3b6f0a-5c2e-4e8b-a7d1-6b0c3e9f2a44"
PROVIDER = "EntraID"


@pytest.fixture(autouse=True)
def _federated_with_entra(stack: Stack) -> None:
    """The stack as deployed with EntraTenantId set: its sign-in settings name the provider
    and the tenant (the embedded deployment makes no identity provider: the pool's users stand
    in for federated ones, `local/federation.py`)."""
    ssm = stack.session.client("ssm")
    name = f"/{stack.deployment.stack_name}/teams-sign-in"
    settings = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    settings.update(provider=PROVIDER, tenant=TENANT)
    ssm.put_parameter(Name=name, Value=json.dumps(settings), Overwrite=True)


def _signed_in(stack: Stack, oid: str) -> dict[str, str]:
    """The tokens of a person of the tenant signed in through Entra ID (`local/federation.py`:
    the user, Entra's `tid` and `oid` mapped onto attributes, and the `identities` claim)."""
    outputs = stack.deployment.outputs
    return signed_in(stack.session, outputs["TeamsUserPoolId"], outputs["TeamsUserPoolClientId"],
                     PROVIDER, oid, {"custom:tid": TENANT, "custom:oid": oid})  # fmt: skip


def _token(stack: Stack, oid: str) -> str:
    """The ID token of a person the pool knows (as Entra federated them)."""
    return _signed_in(stack, oid)["IdToken"]


def _forged(stack: Stack, oid: str, expired: bool = False, own_key: bool = True) -> str:
    """An ID token made outside the pool: with the pool's own key but expired, or with a key
    of the forger's own."""
    pool = stack.deployment.outputs["TeamsUserPoolId"]
    if own_key:
        raw = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz")
        key = jwk.import_key(json.loads(gzip.decompress(raw.read_bytes())))
    else:
        key = jwk.RSAKey.generate_key(2048)
    now = int(time.time())
    claims = {"iss": f"https://cognito-idp.{stack.deployment.region}.amazonaws.com/{pool}",
              "aud": stack.deployment.outputs["TeamsUserPoolClientId"], "token_use": "id",
              "sub": oid, "identities": [{"userId": oid, "providerName": PROVIDER}],
              "iat": now - 7200,
              "exp": now - 3600 if expired else now + 3600}  # fmt: skip
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, key)


def _confirm(stack: Stack, method: str, approval_id: str, token: str | None,
             body: Any = None) -> Any:  # fmt: skip
    headers = {"Authorization": token} if token else {}
    return stack.api(method, f"/confirm/approvals/{approval_id}", body, sign=False,
                     headers=headers)  # fmt: skip


def test_a_person_signed_in_decides_on_a_post_and_a_get_only_shows_the_plan(
    stack: Stack,
) -> None:
    execution, approval_id = _waiting_run(stack, "teams-yes", [f"entra:{TENANT}/{ALICE}"])
    alice = _token(stack, ALICE)
    # The page's GET shows what is asked, decides nothing, and carries no task token
    shown = _confirm(stack, "GET", approval_id, alice)
    assert shown.status == 200, shown
    assert shown.body["status"] == "pending"
    assert shown.body["where"]["cluster"] == "orders-prod"
    assert shown.body["you"] == f"entra:{TENANT}/{ALICE}"
    assert shown.body["changes"], shown.body
    assert _state(stack, approval_id)["status"] == "pending"
    # Someone signed in but not on the list decides nothing, and is not shown the plan, the
    # account or the cluster (issue 26: the GET showed them to every person of the tenant)
    mallory = _token(stack, MALLORY)
    refused = _confirm(stack, "POST", approval_id, mallory, {"decision": "approve"})
    assert refused.status == 403, refused
    unshown = _confirm(stack, "GET", approval_id, mallory)
    assert unshown.status == 403, unshown
    assert "orders-prod" not in json.dumps(unshown.body)
    # The approver's POST decides, as that person
    decided = _confirm(stack, "POST", approval_id, alice, {"decision": "approve"})
    assert decided.status == 200, decided
    assert decided.body["decided_by"] == f"entra:{TENANT}/{ALICE}"
    assert _state(stack, approval_id)["decided_by"] == f"entra:{TENANT}/{ALICE}"
    assert stack.wait(execution)["status"] == "SUCCEEDED"


def test_a_person_who_rewrites_their_own_attributes_is_still_themself(stack: Stack) -> None:
    # Attack (issue 26): the pool's attributes are the user's to write with their access token
    # (the app client must be able to write every attribute an IdP maps); mallory sets her
    # object id to alice's, signs in again, and decides as alice
    execution, approval_id = _waiting_run(stack, "teams-forged", [f"entra:{TENANT}/{ALICE}"])
    mallory = _signed_in(stack, MALLORY)
    stack.session.client("cognito-idp").update_user_attributes(
        AccessToken=mallory["AccessToken"],
        UserAttributes=[{"Name": "custom:oid", "Value": ALICE}],
    )  # fmt: skip
    # (and the claim the person is read from cannot be written: Cognito sets it)
    with pytest.raises(ClientError, match="InvalidParameterException"):
        stack.session.client("cognito-idp").update_user_attributes(
            AccessToken=mallory["AccessToken"],
            UserAttributes=[{"Name": "identities", "Value": json.dumps(
                [{"userId": ALICE, "providerName": PROVIDER}])}],
        )  # fmt: skip
    rewritten = _token(stack, MALLORY)
    # Then she is still mallory: not shown the plan, not able to decide
    assert _confirm(stack, "GET", approval_id, rewritten).status == 403
    refused = _confirm(stack, "POST", approval_id, rewritten, {"decision": "approve"})
    assert refused.status == 403, refused
    assert _state(stack, approval_id)["status"] == "pending"
    stack.session.client("stepfunctions").stop_execution(executionArn=execution)


def test_without_a_token_the_pool_signed_and_still_valid_nothing_is_shown_or_decided(
    stack: Stack,
) -> None:
    _, approval_id = _waiting_run(stack, "teams-tokens", [f"entra:{TENANT}/{ALICE}"])
    cases = {
        "none": None,
        "expired": _forged(stack, ALICE, expired=True),
        "forged": _forged(stack, ALICE, own_key=False),
        "not-a-token": base64.b64encode(b"alice").decode(),
    }
    for case, token in cases.items():
        for method, body in (("GET", None), ("POST", {"decision": "approve"})):
            answer = _confirm(stack, method, approval_id, token, body)
            assert (answer.status, answer.body) == (401, {"message": "Unauthorized"}), (
                case, answer)  # fmt: skip
    assert _state(stack, approval_id)["status"] == "pending"
    # A token the pool signed with its own key and still valid is taken (the control)
    good = _forged(stack, ALICE)
    assert _confirm(stack, "GET", approval_id, good).status == 200


def test_the_confirmation_page_holds_no_data_and_runs_only_its_own_script(stack: Stack) -> None:
    """The page a Teams card links to: anyone may fetch it (a link preview too), and it holds
    nothing of the approval: it signs the person in (authorization code with PKCE at the
    pool's sign-in, then the token endpoint) and calls the two routes above with the ID token.
    Its script is the only one that may run (a Content-Security-Policy with its hash), it may
    talk only to the sign-in and this API, no page may frame it, and nothing is cached or sent
    as a referrer (the code is in its address when the sign-in returns)."""
    import hashlib
    import re
    import urllib.request

    _, approval_id = _waiting_run(stack, "teams-page", [f"entra:{TENANT}/{ALICE}"])
    url = f"{stack.deployment.outputs['ApiUrl']}/confirm?approval={approval_id}<script>"
    with urllib.request.urlopen(url.replace("<script>", "%3Cscript%3E")) as answer:
        page = answer.read().decode()
        headers = {k.lower(): v for k, v in answer.headers.items()}
    assert headers["content-type"].startswith("text/html")
    assert approval_id not in page  # nothing of the address is echoed
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    policy = headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    # It knows its sign-in client and calls this API's routes, PKCE (S256) on the way
    client = stack.deployment.outputs["TeamsUserPoolClientId"]
    assert f'"client_id": "{client}"' in page
    assert "/confirm/approvals/" in page
    assert '"code_challenge_method", "S256"' in page
