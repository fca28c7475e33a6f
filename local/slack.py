"""A simulated Slack, for the embedded AWS: it presses a message's buttons as Slack does (a
block_actions payload, form-encoded, signed with the app's signing secret: "Verifying requests
from Slack") and takes the updates sent to the callback's `response_url`. The signature is made
here from Slack's documented recipe, not with the project's own code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

from local import httpd


class SimulatedSlack:
    def __init__(self, team: str = "T0V6MIGR8") -> None:
        self.team = team
        self.updates: list[dict[str, Any]] = []  # what reached a response_url, in order
        self.url = ""
        self._server: Any = None
        self._lock = threading.Lock()

    def start(self) -> SimulatedSlack:
        slack = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with slack._lock:
                    slack.updates.append({"path": self.path, **body})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server, self.url = httpd.serve(Handler, "v6-slack")
        return self

    def stop(self) -> None:
        httpd.shut(self._server)
        self._server, self.url = None, ""

    def user(self, user_id: str) -> str:
        """The identity an approval's allow-list names for this workspace's user."""
        return f"slack:{self.team}/{user_id}"

    def press(self, action_id: str, approval_id: str, user_id: str) -> tuple[bytes, dict[str, str]]:
        """The body and headers Slack would send when `user_id` presses a button (unsigned)."""
        payload = {
            "type": "block_actions",
            "team": {"id": self.team, "domain": "v6migrate"},
            "user": {"id": user_id, "username": user_id.lower(), "team_id": self.team},
            "api_app_id": "A0V6MIGR8",
            "response_url": f"{self.url}/actions/{approval_id}",
            "actions": [{"type": "button", "action_id": action_id, "value": approval_id,
                         "block_id": "decide", "action_ts": f"{time.time():.6f}"}],
        }  # fmt: skip
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return body, {"Content-Type": "application/x-www-form-urlencoded"}


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature headers: v0 HMAC-SHA256 over `v0:<timestamp>:<body>`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest.hexdigest()}"}
