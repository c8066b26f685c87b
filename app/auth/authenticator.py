"""From request headers to a Principal: `X-API-Key`, or `Authorization: Bearer <jwt>`."""

from __future__ import annotations

import logging

from app.auth.api_keys import ApiKeyVerifier, InvalidApiKey
from app.auth.principal import Principal
from app.auth.tokens import InvalidToken, JwtVerifier

log = logging.getLogger(__name__)


class InvalidCredentials(Exception):
    """Credentials were sent but are not valid. Callers learn nothing more than that."""


class Authenticator:
    def __init__(self, api_keys: ApiKeyVerifier, tokens: JwtVerifier) -> None:
        self.api_keys = api_keys
        self.tokens = tokens

    async def authenticate(
        self, *, api_key: str | None, authorization: str | None
    ) -> Principal | None:
        """None when no credential was sent; raises InvalidCredentials for a bad one."""
        try:
            if api_key:
                return await self.api_keys.verify(api_key.strip())
            if authorization:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise InvalidToken("not a bearer token")
                return self.tokens.verify(token.strip())
        except (InvalidApiKey, InvalidToken) as exc:
            log.info("credentials refused: %s", exc, extra={"auth_refusal": str(exc)})
            raise InvalidCredentials from exc
        return None
