"""The one place that makes the Powertools logger, tracer and metrics (configured from the
environment: POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL, POWERTOOLS_METRICS_NAMESPACE)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

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
