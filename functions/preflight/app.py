"""Preflight: discover the estate, plan every change, report blockers. Changes nothing."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import preflight
from v6migrate.observability import entrypoint


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = preflight.PreflightInput.model_validate(event)
    return preflight.run(request).model_dump(mode="json")
