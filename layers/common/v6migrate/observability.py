"""The one place that makes the Powertools logger, tracer and metrics (configured from the
environment: POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_METRICS_NAMESPACE)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

logger = Logger()
# What patch_all() traced, botocore (http.client is left out: it would trace every AWS call a
# second time), without importing a patcher for each library the X-Ray SDK knows.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def entrypoint(handler: Handler) -> Handler:
    """What every Lambda handler wears: its context in the logs (never the event), a trace,
    metrics flushed at the end."""
    wrapped: Handler = logger.inject_lambda_context(log_event=False)(
        tracer.capture_lambda_handler(metrics.log_metrics(handler))
    )
    return wrapped


def stage_duration(stage: str, seconds: float) -> None:
    """One `StageDuration` (seconds, with the stage as a dimension of its own) for the
    dashboard, written at once: the handler's other metrics share one set of dimensions.
    Nothing when metrics are off (POWERTOOLS_METRICS_DISABLED): Powertools' `single_metric`
    prints regardless, unlike its `Metrics`."""
    if is_metrics_disabled():
        return
    with single_metric(name="StageDuration", unit=MetricUnit.Seconds, value=seconds) as metric:
        metric.add_dimension(name="stage", value=stage)
