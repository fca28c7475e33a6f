"""`v6migrate local serve`: the embedded AWS in the foreground, for any AWS client to use."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType

from local import faults
from local.deploy import deploy, local_parameters
from local.seed import ESTATES, seed
from local.server import EmbeddedAws


def serve(
    estate: str,
    port: int,
    echo: Callable[[str], None],
    page_size: int | None = None,
    throttle: float = 0.0,
) -> int:
    """Start, deploy, seed, print how to reach it, then serve until SIGTERM or Ctrl-C, which end
    it at any point (while it deploys or seeds too): returns 0 then."""

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with contextlib.suppress(_Stopped):
        _serve(estate, port, echo, page_size, throttle)
    return 0


class _Stopped(Exception):
    """SIGTERM or SIGINT: raised in the main thread wherever it is."""


def _serve(
    estate: str, port: int, echo: Callable[[str], None], page_size: int | None, throttle: float
) -> None:
    embedded = EmbeddedAws(port=port, page_size=page_size).start()
    try:
        session = embedded.session()
        deployment = deploy(session, parameters=local_parameters())
        echo(f"deployed stack {deployment.stack_name} (account {deployment.account_id}, "
             f"{deployment.region})")  # fmt: skip
        for logical, arn in deployment.state_machines.items():
            echo(f"  state machine {logical}: {arn}")
        for logical, arn in deployment.functions.items():
            echo(f"  function {logical}: {arn}")
        for key, value in deployment.outputs.items():
            echo(f"  output {key}: {value}")
        if estate != "none":
            ids = seed(ESTATES[estate], session)
            echo(f"seeded the {estate} estate: cluster {ids['cluster']} in account "
                 f"{ids['account_id']}, {ids['region']}, {ids['vpc_id']}")  # fmt: skip
        echo(f"export AWS_ENDPOINT_URL={embedded.endpoint} AWS_ACCESS_KEY_ID=embedded "
             f"AWS_SECRET_ACCESS_KEY=embedded AWS_REGION={embedded.region}")  # fmt: skip
        if throttle:
            # after the deployment and the seed: only the clients that use it meet it
            faults.throttle(throttle)
            echo(f"throttling {throttle:.0%} of the calls to {', '.join(faults.THROTTLING)}")
        echo(f"endpoint: {embedded.endpoint}")
        threading.Event().wait()  # until a signal's handler raises
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second signal ends it at once
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        embedded.stop()
