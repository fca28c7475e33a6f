"""What moto's Cognito user pools lack.

Amazon Cognito Developer Guide, "Understanding the identity (ID) token": a user who signed in
through a third-party identity provider has an `identities` claim in their ID token, an array
of the providers linked to them, each with its `providerName`, `providerType`, `userId` (the
IdP's user id), `issuer`, `primary` and `dateCreated`. The claim comes from the user's reserved
`identities` attribute, which Cognito sets (federation, AdminLinkProviderForUser) and no app
client can write. moto puts only the client's readable attributes and the custom ones in an ID
token; here `identities` goes in too, as the array AWS puts there.
"""

from __future__ import annotations

import json
from typing import Any


def id_token_names_the_users_identities() -> None:
    from moto.cognitoidp.models import CognitoIdpUserPool

    make_jwt = CognitoIdpUserPool.create_jwt

    def create_jwt(
        self: CognitoIdpUserPool, client_id: str, username: str, token_use: str,
        expires_in: int = 60 * 60, extra_data: dict[str, Any] | None = None,
    ) -> tuple[str, int]:  # fmt: skip
        if token_use == "id":  # noqa: S105 (the token's kind, not a secret)
            linked = [a["Value"] for a in self._get_user(username).attributes
                      if a["Name"] == "identities"]  # fmt: skip
            extra_data = dict(extra_data or {})
            extra_data.pop("identities", None)
            if linked:
                extra_data["identities"] = json.loads(linked[0])
        return make_jwt(self, client_id, username, token_use, expires_in, extra_data)

    CognitoIdpUserPool.create_jwt = create_jwt  # type: ignore[method-assign]


def identities_cannot_be_written() -> None:
    """The same guide: `identities` is read-only for every app client. A user's own write
    (UpdateUserAttributes) or an administrator's (AdminUpdateUserAttributes, AdminCreateUser)
    naming it is an InvalidParameterException; moto would store it."""
    from moto.cognitoidp.exceptions import InvalidParameterException
    from moto.cognitoidp.models import CognitoIdpBackend

    def refusing(original: Any) -> Any:
        def write(self: CognitoIdpBackend, *args: Any, **kwargs: Any) -> Any:
            attributes = kwargs.get("attributes")
            if attributes is None:
                attributes = next((a for a in args if isinstance(a, list)), [])
            if any(a.get("Name") == "identities" for a in attributes or []):
                raise InvalidParameterException(
                    "identities: a read-only attribute, set by Amazon Cognito"
                )
            return original(self, *args, **kwargs)

        return write

    for name in ("update_user_attributes", "admin_update_user_attributes"):
        setattr(CognitoIdpBackend, name, refusing(getattr(CognitoIdpBackend, name)))
