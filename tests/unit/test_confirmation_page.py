"""The Teams confirmation page's script, run under Node.js with the browser's objects stood in
for: the sign-in with PKCE (RFC 7636: `code_challenge` = BASE64URL(SHA-256(verifier)), S256),
the state checked on the way back, the token exchange, then the API's two routes with the ID
token; a decision only after the person confirms. Skipped where there is no `node`."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import urllib.parse
from typing import Any

import pytest

from v6migrate import page

NODE = shutil.which("node")
SETTINGS = {"client_id": "client-1", "sign_in": "https://pool.auth.eu-west-1.amazoncognito.com",
            "provider": "EntraID"}  # fmt: skip
API = "https://abc.execute-api.eu-west-1.amazonaws.com/v1"

# The browser, as far as the page uses it: what it did is printed as JSON lines
HARNESS = r"""
const calls = [];
const log = (kind, data) => calls.push({kind, ...data});
const world = JSON.parse(process.argv[process.argv.length - 1]);
const store = new Map(Object.entries(world.session || {}));
const nodes = {cfg: {textContent: world.cfg}, out: {textContent: ""}};
const buttons = [];
globalThis.document = {
  getElementById: (id) => nodes[id],
  createElement: () => ({listeners: {},
                         addEventListener(t, f) { this.listeners[t] = f; }}),
  body: {appendChild: (b) => buttons.push(b)},
};
globalThis.location = {origin: "https://abc.execute-api.eu-west-1.amazonaws.com",
  pathname: "/v1/confirm", search: world.search, assign: (url) => log("navigate", {url})};
globalThis.history = {replaceState: (s, t, url) => log("replace", {url})};
globalThis.sessionStorage = {getItem: (k) => store.has(k) ? store.get(k) : null,
  setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k)};
globalThis.confirm = () => world.confirm;
globalThis.fetch = async (url, init) => {
  const body = init && init.body ? String(init.body) : null;
  log("fetch", {url: String(url), method: init.method || "GET",
                auth: (init.headers || {}).Authorization || null, body});
  const answer = world.answers.shift();
  return {ok: answer.status < 400, status: answer.status, json: async () => answer.body};
};
const done = async () => {
  for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 1));
  if (world.press !== undefined && buttons[world.press]) {
    await buttons[world.press].listeners.click();
    for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 1));
  }
  console.log(JSON.stringify({calls, out: nodes.out.textContent,
                              session: Object.fromEntries(store), buttons: buttons.length}));
};
"""


def _run(search: str, answers: list[dict[str, Any]] | None = None,
         session: dict[str, str] | None = None, press: int | None = None,
         confirm: bool = True) -> dict[str, Any]:  # fmt: skip
    assert NODE is not None
    html, _ = page.render(SETTINGS, API)
    config = html.split('<script type="application/json" id="cfg">', 1)[1].split("</script>")[0]
    world = {"cfg": config, "search": search, "answers": answers or [], "session": session or {},
             "press": press, "confirm": confirm}  # fmt: skip
    program = HARNESS + page.SCRIPT + "\ndone();\n"
    result = subprocess.run(
        [NODE, "-e", program, "--", json.dumps(world)], capture_output=True, text=True,
        timeout=30, check=True,
    )  # fmt: skip
    found: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


pytestmark = pytest.mark.skipif(NODE is None, reason="no node to run the page's script")


def test_a_first_visit_sends_the_person_to_sign_in_with_pkce() -> None:
    seen = _run("?approval=4f87ebeb9424e5f0")
    (navigate,) = [c for c in seen["calls"] if c["kind"] == "navigate"]
    url = urllib.parse.urlparse(navigate["url"])
    query = dict(urllib.parse.parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{SETTINGS['sign_in']}/oauth2/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == "client-1"
    assert query["redirect_uri"] == f"{API}/confirm"
    assert query["identity_provider"] == "EntraID"
    assert query["code_challenge_method"] == "S256"
    kept = json.loads(seen["session"]["v6migrate"])
    assert kept["approval"] == "4f87ebeb9424e5f0"
    assert query["state"] == kept["state"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(kept["verifier"].encode()).digest())
    assert query["code_challenge"] == challenge.decode().rstrip("=")
    assert not [c for c in seen["calls"] if c["kind"] == "fetch"]  # nothing read or decided


def test_an_approval_id_that_is_not_one_is_not_signed_in_for() -> None:
    seen = _run("?approval=%3Cscript%3E")
    assert seen["calls"] == []
    assert seen["out"] == "No approval named."


KEPT = {"v6migrate": json.dumps({"verifier": "v" * 43, "state": "s-1",
                                 "approval": "4f87ebeb9424e5f0"})}  # fmt: skip
ASKED = {"status": 200, "body": {"status": "pending", "where": {"cluster": "orders-prod"},
         "approvers": [], "needed": 1, "you": "entra:t/o", "changes": ["add ::/0"]}}  # fmt: skip


def test_back_from_sign_in_it_reads_the_approval_and_decides_only_when_confirmed() -> None:
    token = {"status": 200, "body": {"id_token": "ID-TOKEN"}}
    decided = {"status": 200, "body": {"status": "approved", "decided_by": "entra:t/o"}}
    seen = _run("?code=C-1&state=s-1", [token, ASKED, decided], KEPT, press=0)
    fetched = [c for c in seen["calls"] if c["kind"] == "fetch"]
    exchange, read, decide = fetched
    assert exchange["url"] == f"{SETTINGS['sign_in']}/oauth2/token"
    form = dict(urllib.parse.parse_qsl(exchange["body"]))
    assert form == {"grant_type": "authorization_code", "client_id": "client-1", "code": "C-1",
                    "redirect_uri": f"{API}/confirm", "code_verifier": "v" * 43}  # fmt: skip
    assert (read["method"], read["url"], read["auth"]) == (
        "GET", f"{API}/confirm/approvals/4f87ebeb9424e5f0", "ID-TOKEN")  # fmt: skip
    assert (decide["method"], decide["auth"], json.loads(decide["body"])) == (
        "POST", "ID-TOKEN", {"decision": "approve"})  # fmt: skip
    assert seen["out"] == "approved: decided by entra:t/o"
    # the code leaves the address at once, and the kept verifier is used once
    assert {"kind": "replace", "url": f"{API}/confirm"} in seen["calls"]
    assert "v6migrate" not in seen["session"]
    # Not confirmed: nothing is posted
    cancelled = _run("?code=C-1&state=s-1", [token, ASKED], KEPT, press=0, confirm=False)
    assert [c["method"] for c in cancelled["calls"] if c["kind"] == "fetch"] == ["POST", "GET"]


def test_a_return_whose_state_is_not_the_one_kept_goes_no_further() -> None:
    seen = _run("?code=C-1&state=forged", [], KEPT)
    assert [c for c in seen["calls"] if c["kind"] == "fetch"] == []
    assert seen["out"] == "Sign in again."
    assert _run("?code=C-1&state=s-1")["out"] == "Sign in again."  # nothing kept: no sign-in
