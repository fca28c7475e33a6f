"""api: the REST API behind API Gateway (IAM auth): plan, start and follow migrations, decide
approvals, follow and steer running waves. API Gateway has checked the caller's SigV4
signature; the caller's ARN it passes (`requestContext.identity.userArn`) is recorded with
every action. The routes and their models are the layer's (`v6migrate.rest`): every body and
path is validated against them, and a bad one is a 400 that names the field."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate.observability import entrypoint
from v6migrate.rest import approvals, common, migrations, slack, waves

app = APIGatewayRestResolver(enable_validation=True)
for routes in (migrations, approvals, waves, slack):
    app.include_router(routes.router)
common.answer_errors(app)


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    body = event.get("body") if isinstance(event, dict) else None
    return common.too_large(body) or app.resolve(event, context)
