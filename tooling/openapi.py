"""The REST API's OpenAPI document, generated from the `api` function's routes and models
(`make docs` writes docs/openapi.json; a unit test keeps it current). It is documentation:
API Gateway builds the API from template.yaml, and its import does not take OpenAPI 3.1."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "functions" / "api" / "app.py"

_ANSWERS = {
    "400": "Bad input: `message` names each field that is wrong, `errors` says how",
    "403": "No valid SigV4 signature (API Gateway: Missing Authentication Token, an invalid "
    "signature), or a caller who may not decide this approval or speed up this wave",
    "404": "No such migration, approval or wave run",
    "409": "A client token reused for another request, an approval already decided, or a wave "
    "run that has ended, was aborted, or has not started its clusters yet (PATCH)",
    "503": "AWS is busy: try again",
}


def _load_app() -> Any:
    spec = importlib.util.spec_from_file_location("v6migrate_api_app", APP)
    if spec is None or spec.loader is None:
        raise ImportError(APP)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the models' annotations through it
    spec.loader.exec_module(module)
    return module.app


def document() -> dict[str, Any]:
    app = _load_app()
    doc: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="v6migrate",
            version="1",
            summary="Plan, start, follow and approve IPv6 migrations of EKS clusters",
            description="Every route is signed with SigV4 (service `execute-api`) by an IAM "
            "principal; the caller's ARN is recorded with each action.",
        )
    )
    doc["components"]["securitySchemes"] = {
        "sigv4": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    }
    doc["components"]["securitySchemes"]["teamsSignIn"] = {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "An ID token of the stack's sign-in pool (federated with Entra ID)",
        "x-amazon-apigateway-authtype": "cognito_user_pools",
    }
    doc["security"] = [{"sigv4": []}]
    for operations in doc["paths"].values():
        for operation in operations.values():
            answers = operation["responses"]
            answers.pop("422", None)  # Powertools' default; this API answers 400 instead
            if operation.get("x-v6migrate-auth") == "slack-signature":
                operation["security"] = []  # Slack signs it, not an IAM principal
            if operation.get("x-v6migrate-auth") == "teams-sign-in":
                operation["security"] = [{"teamsSignIn": []}]  # a person, not an IAM principal
            for status, text in _ANSWERS.items():
                if status in answers:
                    continue
                answers[status] = {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                    },
                }
    doc["components"]["schemas"].pop("HTTPValidationError", None)
    doc["components"]["schemas"].pop("ValidationError", None)
    doc["components"]["schemas"].pop("ResponseValidationError", None)
    return doc


def text() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(text(), end="")
