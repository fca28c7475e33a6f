"""The embedded AWS: moto's threaded server on 127.0.0.1 with the project's gaps filled.

Step Functions executes state machines, Lambda tasks run the project's handlers in-process,
Wait states and retry back-off are fast-forwarded. Everything else talks to it over HTTP
exactly as to AWS: only `AWS_ENDPOINT_URL` differs.
"""

from __future__ import annotations

import json
import os
import urllib.request
from types import TracebackType
from typing import Any

import boto3

from local import faults, gaps, runtime
from local.cluster import SIM
from local.execute_api import EXECUTE_API
from local.gaps.timing import clock_control
from local.scheduler import SCHEDULER
from v6migrate.aws import new_session

DEFAULT_REGION = "eu-west-1"
# moto maps unknown access keys to its default account, which stands for the tooling account.
_LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "embedded",
    "AWS_SECRET_ACCESS_KEY": "embedded",
}
MOTO_CONFIG = {
    "lambda": {"use_docker": False},
    "stepfunctions": {"execute_state_machine": True},
}


class ServerStartFailed(RuntimeError):
    """The embedded AWS could not listen (most often: its port is in use)."""


def _listen(server: Any, port: int) -> None:
    """`ThreadedMotoServer.start` without its hang: when the bind fails, the server's thread
    dies before it says it is ready, and `start` would wait for ever (moto 5.2.5)."""
    import socket
    import threading

    failed: list[str] = []
    if port:
        # werkzeug, asked for a port in use, prints two lines of its own and ends the thread:
        # the same bind tried first (with the server's SO_REUSEADDR) says why in one
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as error:
                raise ServerStartFailed(_cannot_listen(port, error.strerror)) from error

    def entry() -> None:
        try:
            server._server_entry()
        except BaseException as error:  # werkzeug ends a failed bind with SystemExit
            failed.append(str(error))

    server._thread = threading.Thread(target=entry, daemon=True)
    server._thread.start()
    while not server._server_ready_event.wait(0.05):
        if not server._thread.is_alive():
            raise ServerStartFailed(
                _cannot_listen(port, "the server stopped while starting " + " ".join(failed))
            )


def _cannot_listen(port: int, reason: str | None) -> str:
    return (
        f"cannot listen on 127.0.0.1:{port}: {reason or 'refused'} (choose another port with "
        "--port, or 0 for a free one)"
    )


def _served_lighter() -> None:
    """moto's server lists its package's folders (a stat of each of some 150) on every request
    to tell whether the host names a service; the list does not change while it runs."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "listed_once", False):
        return
    listed = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return listed

    list_of_moto_modules.listed_once = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules
    # and a request's thread runs the embedded AWS untraced (the functions' code traced)
    from werkzeug.serving import ThreadedWSGIServer

    ThreadedWSGIServer.process_request_thread = runtime.untraced(  # type: ignore[method-assign]
        ThreadedWSGIServer.process_request_thread
    )


class EmbeddedAws:
    def __init__(
        self,
        port: int = 0,
        region: str = DEFAULT_REGION,
        fast_forward: bool = True,
        page_size: int | None = None,
    ) -> None:
        """`page_size`: at most that many items a page of every Describe and List the workflow
        reads (AWS may answer fewer than asked: gaps/paging.py); None for AWS's own sizes."""
        self._requested_port = port
        self._page_size = page_size
        self.region = region
        self._fast_forward = fast_forward
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self.endpoint = ""

    def start(self) -> EmbeddedAws:
        # The extensions must be in place before the server's first request (URL map cache).
        gaps.install()
        clock_control()  # the seeder's way to let time pass, from any process
        gaps.paging.set_page_size(self._page_size)
        runtime.install()
        faults.install()
        runtime.quiet()
        if self._fast_forward:
            runtime.fast_forward()
        _served_lighter()
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(
            ip_address="127.0.0.1", port=self._requested_port, verbose=False
        )
        _listen(self._server, self._requested_port)
        SIM.start()  # the simulated clusters' Kubernetes API (DescribeCluster points at it)
        EXECUTE_API.start()  # API Gateway's execute-api for the template's REST API
        _, port = self._server.get_host_and_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        # The interpreter calls Lambda and EventBridge at localhost:MOTO_PORT; boto3 in this
        # process (handlers, CLI, seeder) finds the server through AWS_ENDPOINT_URL.
        environment = {
            "MOTO_PORT": str(port),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", self.region),
            **{k: os.environ.get(k, v) for k, v in _LOCAL_CREDENTIALS.items()},
        }
        # The key this process's clients sign with is one the embedded STS knows the secret of
        gaps.access.LONG_TERM_KEYS[environment["AWS_ACCESS_KEY_ID"]] = environment[
            "AWS_SECRET_ACCESS_KEY"
        ]
        self._saved_env = {key: os.environ.get(key) for key in [*environment, "AWS_PROFILE"]}
        os.environ.update(environment)
        os.environ.pop("AWS_PROFILE", None)
        SCHEDULER.start(self.endpoint, environment)  # fires one-time schedules when due
        self._post("/moto-api/config", MOTO_CONFIG)
        return self

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310 (loopback, our own server)
            self.endpoint + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def reset(self) -> None:
        """Forget every resource (moto's reset), keeping the server and its configuration."""
        self._post("/moto-api/reset", {})
        self._post("/moto-api/config", MOTO_CONFIG)
        SIM.states.clear()
        SCHEDULER.fired.clear()
        runtime.new_containers()

    def session(self, region: str | None = None) -> boto3.Session:
        return new_session(region_name=region or self.region)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            SIM.stop()
            EXECUTE_API.stop()
            SCHEDULER.stop()
            gaps.paging.set_page_size(None)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
