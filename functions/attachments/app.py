"""attachments: apply the `attachments` stage of the approved plan, journaled, re-runnable."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import apply
from v6migrate.observability import entrypoint


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = apply.StageInput.model_validate(event)
    return apply.run_stage("attachments", request).model_dump(mode="json")
