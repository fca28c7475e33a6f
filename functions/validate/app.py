"""validate: check the migration from the AWS APIs and from inside the cluster."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import validate
from v6migrate.observability import entrypoint


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = validate.RecheckInput.model_validate(event)
    return validate.run(request).model_dump(mode="json")
