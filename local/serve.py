"""`v6migrate local serve`: the embedded AWS in the foreground, for any AWS client to use."""

from __future__ import annotations

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
    throttle: float | str = 0.0,
    rates: dict[str, tuple[int, float]] | None = None,
) -> int:
    """Start, deploy, seed, print how to reach it, then serve until SIGTERM or Ctrl-C, which end
    it at any point (while it deploys or seeds too): returns 0 then.

    The deployment and the seed run in a worker thread and the main thread only waits, so a
    signal never lands inside a client call: raised there, it could be swallowed by the HTTP
    stack and the call sent again (a create answered "duplicate", seen in the SIGTERM test)."""
    faults.buckets(False, rates)  # a bad rate is refused before anything starts
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if stopping.is_set():
            return 0
        embedded = EmbeddedAws(port=port, page_size=page_size).start()
        try:
            return _serve_until(stopping, embedded, estate, echo, throttle, rates or {})
        finally:
            embedded.stop()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second signal ends it at once
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def _serve_until(
    stopping: threading.Event,
    embedded: EmbeddedAws,
    estate: str,
    echo: Callable[[str], None],
    throttle: float | str,
    rates: dict[str, tuple[int, float]],
) -> int:
    printing = threading.Lock()
    failed: list[BaseException] = []

    def say(line: str) -> None:
        with printing:  # nothing more is printed once a signal came
            if not stopping.is_set():
                echo(line)

    def prepare() -> None:
        try:
            _prepare(embedded, estate, say, throttle, rates)
        except BaseException as error:  # reported by the main thread
            failed.append(error)
            stopping.set()

    worker = threading.Thread(target=prepare, name="v6migrate-serve-prepare", daemon=True)
    worker.start()
    while not stopping.wait(0.5):
        pass
    with printing:  # a line being printed is finished; none begins after this
        pass
    if failed:
        raise failed[0]
    return 0  # the worker, if still deploying or seeding, ends with the process


def _prepare(
    embedded: EmbeddedAws,
    estate: str,
    echo: Callable[[str], None],
    throttle: float | str,
    rates: dict[str, tuple[int, float]],
) -> None:
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
         f"AWS_SECRET_ACCESS_KEY=embedded AWS_REGION={embedded.region} "
         f"AWS_DEFAULT_REGION={embedded.region}")  # fmt: skip
    # after the deployment and the seed: only the clients that use it meet it
    if throttle == "buckets":
        faults.buckets(True, rates)
        buckets = ", ".join(f"{k} {n} at {r:g}/s" for k, (n, r) in faults.EC2_BUCKETS.items())
        echo(f"throttling EC2 by token buckets per account and Region: {buckets}")
        echo(f"throttling Step Functions by its {len(faults.SFN_BUCKETS)} published API buckets "
             "per account and Region")  # fmt: skip
        for service, (tokens, rate) in sorted(rates.items()):
            echo(f"throttling {service} at your rate: {tokens} at {rate:g}/s")
    elif throttle:
        faults.throttle(float(throttle))
        services = ", ".join(faults.SHARE_THROTTLED)
        echo(f"throttling {float(throttle):.0%} of the calls to {services}")
    echo(f"endpoint: {embedded.endpoint}")
