"""The error names the state machine retries or compensates on (never message text)."""

from __future__ import annotations

from botocore.exceptions import ClientError

THROTTLING_CODES = frozenset(
    {
        "RequestLimitExceeded",
        # DynamoDB's own (API reference: "the request was denied due to request throttling")
        "ProvisionedThroughputExceededException",
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
    }
)


class V6MigrateError(Exception):
    """Base of every error v6migrate raises on purpose."""


class InputError(V6MigrateError):
    """The request names something that does not exist or cannot be used. Not retried."""


class ClusterNotFound(InputError):
    pass


class NotFoundError(InputError):
    """What the request names (a migration, an approval) does not exist."""


class ConflictError(InputError):
    """The request clashes with one made before (a client token reused for other input)."""


class TransientError(V6MigrateError):
    """AWS was busy or briefly unavailable: the state machine retries with back-off."""


class BlockedError(V6MigrateError):
    """Preflight found blockers: nothing was changed."""


class ChangeFailed(V6MigrateError):
    """A change could not be made; compensation follows."""


def translate(error: ClientError, context: str) -> V6MigrateError:
    """Turn a botocore ClientError into the project's error of the same meaning."""
    code = error.response.get("Error", {}).get("Code", "Unknown")
    message = error.response.get("Error", {}).get("Message", "")
    if code in THROTTLING_CODES:
        return TransientError(f"{context}: {code}")
    if code in ("ResourceNotFoundException", "NotFoundException") or code.endswith(".NotFound"):
        return InputError(f"{context}: {message or code}")
    return ChangeFailed(f"{context}: {code}: {message}")
