"""The one place that makes the Powertools logger, tracer and metrics (configured from the
environment: POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_METRICS_NAMESPACE).

They are made on first use in an execution environment (`instruments`), not when this module is
imported: Powertools reads its settings when each is made, so whatever imported the layer first
(a CLI, a test) cannot fix the settings of the function that runs later. `logger`, `tracer` and
`metrics` stand for the environment's own."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class Instruments:
    logger: Logger
    tracer: Tracer
    metrics: Metrics
    _wrapped: dict[Handler, Handler] = field(default_factory=dict)

    def wrap(self, handler: Handler) -> Handler:
        """`handler` in its context in the logs (never the event), a trace, metrics flushed at
        the end; wrapped once per environment."""
        wrapped = self._wrapped.get(handler)
        if wrapped is None:
            wrapped = self._wrapped[handler] = self.logger.inject_lambda_context(log_event=False)(
                self.tracer.capture_lambda_handler(self.metrics.log_metrics(handler))
            )
        return wrapped


@functools.cache
def instruments() -> Instruments:
    """This execution environment's logger, tracer and metrics, made from its variables."""
    return Instruments(
        logger=Logger(),
        # What patch_all() traced, botocore (http.client is left out: it would trace every AWS
        # call a second time), without importing a patcher for each library the X-Ray SDK knows.
        tracer=Tracer(patch_modules=("botocore",)),
        # A metric set of its own: `Metrics()` keeps its metrics in class attributes, shared by
        # every instance in the process
        metrics=Metrics(provider=AmazonCloudWatchEMFProvider()),
    )


class _Current:
    """One of `instruments()`'s members, looked up on each use."""

    def __init__(self, member: str) -> None:
        self._member = member

    def __getattr__(self, name: str) -> Any:
        return getattr(getattr(instruments(), self._member), name)


logger = cast(Logger, _Current("logger"))
tracer = cast(Tracer, _Current("tracer"))
metrics = cast(Metrics, _Current("metrics"))


def entrypoint(handler: Handler) -> Handler:
    """What every Lambda handler wears (`Instruments.wrap`), from the instruments of the
    environment the invocation runs in. Made when the handler's module is loaded, in its
    environment: on Lambda, in the init phase (the Tracer patches botocore then)."""
    instruments()

    @functools.wraps(handler)
    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return instruments().wrap(handler)(event, context)

    return run


def stage_duration(stage: str, seconds: float) -> None:
    """One `StageDuration` (seconds, with the stage as a dimension of its own) for the
    dashboard, written at once: the handler's other metrics share one set of dimensions.
    Nothing when metrics are off (POWERTOOLS_METRICS_DISABLED): Powertools' `single_metric`
    prints regardless, unlike its `Metrics`."""
    if is_metrics_disabled():
        return
    with single_metric(name="StageDuration", unit=MetricUnit.Seconds, value=seconds) as metric:
        metric.add_dimension(name="stage", value=stage)
