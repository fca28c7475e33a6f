"""cni_egress: turn on the VPC CNI's IPv6 egress; called again after each Wait until done."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from v6migrate import apply
from v6migrate.observability import entrypoint


@entrypoint
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = apply.StageInput.model_validate(event)
    return apply.advance_stage("cni", request).model_dump(mode="json")
