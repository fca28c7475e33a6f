"""Rollback: revert what this migration did, newest first, and release the cluster's lock."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import apply
from v6migrate.observability import entrypoint


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = apply.RollbackInput.model_validate(event)
    return apply.compensate(request).model_dump(mode="json")
