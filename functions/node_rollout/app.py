"""node_rollout: roll the node groups, in parallel up to the request's concurrency, until every
node has IPv6; called again after each Wait until done."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import apply
from v6migrate.observability import entrypoint


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = apply.StageInput.model_validate(event)
    return apply.advance_stage("nodes", request).model_dump(mode="json")
