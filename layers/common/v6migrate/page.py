"""The Teams confirmation page: what a Teams card links to, since a Workflows card cannot call
back. The page holds nothing of the approval; its one script signs the person in through the
sign-in pool (OAuth 2.0 authorization code with PKCE, S256: RFC 7636; the pool's hosted
`/oauth2/authorize` and `/oauth2/token`, federated with Entra ID), then reads the approval with
`GET /confirm/approvals/{id}` and decides with `POST` on the same path, each with the ID token
in the `Authorization` header (API Gateway's Cognito authoriser checks it). A GET of the page,
a link preview's too, decides nothing.

The approval id travels in `sessionStorage` across the sign-in's redirect (the redirect URI is
the page itself, without a query, as the pool client lists it), with the PKCE verifier and a
random `state` the answer must carry back.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

SCRIPT = """
"use strict";
const cfg = JSON.parse(document.getElementById("cfg").textContent);
const out = document.getElementById("out");
const say = (text) => { out.textContent = text; };
const page = location.origin + location.pathname;
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const random = () => b64url(crypto.getRandomValues(new Uint8Array(32)));

async function signIn(approval) {
  const verifier = random(), state = random();
  sessionStorage.setItem("v6migrate", JSON.stringify({verifier, state, approval}));
  const challenge = b64url(await crypto.subtle.digest("SHA-256",
    new TextEncoder().encode(verifier)));
  const query = new URLSearchParams([["response_type", "code"], ["client_id", cfg.client_id],
    ["redirect_uri", page], ["scope", "openid profile"], ["state", state],
    ["code_challenge_method", "S256"], ["code_challenge", challenge]]);
  if (cfg.provider) query.set("identity_provider", cfg.provider);
  location.assign(cfg.sign_in + "/oauth2/authorize?" + query);
}

async function idToken(code, kept) {
  const form = new URLSearchParams([["grant_type", "authorization_code"],
    ["client_id", cfg.client_id], ["code", code], ["redirect_uri", page],
    ["code_verifier", kept.verifier]]);
  const answer = await fetch(cfg.sign_in + "/oauth2/token", {method: "POST", body: form});
  if (!answer.ok) throw new Error("the sign-in was refused");
  return (await answer.json()).id_token;
}

async function call(method, approval, token, body) {
  const answer = await fetch(cfg.api + "/confirm/approvals/" + encodeURIComponent(approval), {
    method, headers: {"Authorization": token, "Content-Type": "application/json"},
    body: body ? JSON.stringify(body) : undefined});
  const found = await answer.json();
  if (!answer.ok) throw new Error(found.message || answer.status);
  return found;
}

function show(asked, approval, token) {
  const where = asked.where || {};
  say(`Approval ${approval} for ${where.cluster || where.wave_id} (${where.account_id || ""} ` +
      `${where.region || ""}): ${asked.status}, ${asked.approvers.length} of ${asked.needed} ` +
      `approvals. You are ${asked.you}.\\n\\n` + asked.changes.join("\\n"));
  if (asked.status !== "pending") return;
  for (const decision of ["approve", "reject"]) {
    const button = document.createElement("button");
    button.textContent = decision === "approve" ? "Approve" : "Reject";
    button.addEventListener("click", async () => {
      if (!confirm(`${button.textContent} this plan? It changes the network.`)) return;
      try {
        const done = await call("POST", approval, token, {decision});
        say(`${done.status}: decided by ${done.decided_by}`);
      } catch (error) { say(String(error.message)); }
    });
    document.body.appendChild(button);
  }
}

(async () => {
  try {
    const here = new URLSearchParams(location.search);
    const code = here.get("code");
    if (!code) {
      const approval = here.get("approval");
      if (!approval || !/^[a-z0-9]{6,32}$/.test(approval)) { say("No approval named."); return; }
      await signIn(approval);
      return;
    }
    history.replaceState(null, "", page);
    const kept = JSON.parse(sessionStorage.getItem("v6migrate") || "{}");
    sessionStorage.removeItem("v6migrate");
    if (!kept.state || here.get("state") !== kept.state) { say("Sign in again."); return; }
    const token = await idToken(code, kept);
    show(await call("GET", kept.approval, token), kept.approval, token);
  } catch (error) { say(String(error.message)); }
})();
"""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>v6migrate approval</title></head>
<body><h1>v6migrate approval</h1><pre id="out">Signing you in...</pre>
<script type="application/json" id="cfg">{config}</script>
<script>{script}</script>
</body></html>
"""


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}" if rest else ""


def render(settings: dict[str, Any], api_url: str) -> tuple[str, dict[str, str]]:
    """The page and its headers, for this stack's sign-in settings and its API's address."""
    config = {
        "client_id": str(settings.get("client_id", "")),
        "sign_in": str(settings.get("sign_in", "")),
        "provider": str(settings.get("provider", "")),
        "api": api_url,
    }
    # JSON in a script element of type application/json: `<` escaped, so nothing closes it
    text = json.dumps(config).replace("<", "\\u003c")
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    connect = " ".join(o for o in (_origin(config["sign_in"]), _origin(api_url)) if o)
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'sha256-{digest}'; connect-src {connect}; "
            "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
        ),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return TEMPLATE.format(config=text, script=SCRIPT), headers
