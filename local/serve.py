"""`v6migrate local serve`: the embedded AWS in the foreground, for any AWS client to use."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from local.deploy import deploy, local_parameters
from local.seed import ESTATES, seed
from local.server import EmbeddedAws


def serve(estate: str, port: int, echo: Callable[[str], None]) -> int:
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    embedded = EmbeddedAws(port=port).start()
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
        echo(f"endpoint: {embedded.endpoint}")
        stop.wait()
    finally:
        embedded.stop()
    return 0
