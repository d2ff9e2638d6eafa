"""Bearer-token auth of the write routes: read-only without a configured token.

The token comes only from the environment variable the settings name
(``EMBANK_TOKEN`` by default) and is compared in constant time.
"""

from __future__ import annotations

import hmac

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from embank.serve.errors import AuthRequiredError, ForbiddenError
from embank.serve.service import Service, get_service

__all__ = ["bearer", "require_token", "tokens_match"]

bearer = HTTPBearer(
    auto_error=False,
    description="The token in the server's $EMBANK_TOKEN (or the variable --token-env names).",
)


def tokens_match(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in time that does not depend on where they differ."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


async def require_token(
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    service: Service = Depends(get_service),
) -> None:
    """401 without a bearer token, 403 with a wrong one or on a read-only server."""
    if credentials is None:
        raise AuthRequiredError("this route writes to the bank: send Authorization: Bearer TOKEN")
    if service.token is None:
        raise ForbiddenError(
            "this server is read-only: start it with a token in its environment "
            "(EMBANK_TOKEN, or the variable --token-env names)"
        )
    if not tokens_match(credentials.credentials, service.token):
        raise ForbiddenError("wrong token")
