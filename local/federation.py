"""A person signed in to a user pool through an identity provider, as the federation leaves
them: the user `<provider>_<user id>`, the IdP's attributes mapped onto it, and the reserved
`identities` attribute that Amazon Cognito sets on a federated user (its provider, and the
IdP's user id: the claim its attribute mapping names as `username`, `sub` by default). Cognito
puts `identities` in the user's ID token; nobody can write it through the API (it is set by
the federation, or an administrator's AdminLinkProviderForUser), so it is written here in the
embedded Cognito's own records. The federation itself (the IdP's sign-in) is not simulated.
"""

from __future__ import annotations

import json
import time
from typing import Any

PASSWORD = "Pw-1-federated-stand-in"  # noqa: S105 (the stand-in signs in with it; no IdP here)


def signed_in(
    session: Any, pool_id: str, client_id: str, provider: str, user_id: str,
    attributes: dict[str, str] | None = None,
) -> dict[str, str]:  # fmt: skip
    """The tokens (IdToken, AccessToken) of the federated user `user_id` of `provider`, made
    on first use."""
    idp = session.client("cognito-idp")
    name = f"{provider}_{user_id}"
    try:
        idp.admin_create_user(
            UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS",
            UserAttributes=[{"Name": k, "Value": v} for k, v in (attributes or {}).items()],
        )  # fmt: skip
        idp.admin_set_user_password(UserPoolId=pool_id, Username=name, Password=PASSWORD,
                                    Permanent=True)  # fmt: skip
        _link(session, pool_id, name, provider, user_id)
    except idp.exceptions.UsernameExistsException:
        pass
    answer = idp.admin_initiate_auth(
        UserPoolId=pool_id, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD},
    )  # fmt: skip
    result = answer["AuthenticationResult"]
    return {"IdToken": result["IdToken"], "AccessToken": result["AccessToken"]}


def _link(session: Any, pool_id: str, name: str, provider: str, user_id: str) -> None:
    from moto.cognitoidp.models import cognitoidp_backends

    account = session.client("sts").get_caller_identity()["Account"]
    user = cognitoidp_backends[account][session.region_name].user_pools[pool_id].users[name]
    identity = {
        "userId": user_id,
        "providerName": provider,
        "providerType": "OIDC",
        "issuer": None,
        "primary": "true",
        "dateCreated": str(int(time.time() * 1000)),
    }
    user.attributes.append({"Name": "identities", "Value": json.dumps([identity])})
