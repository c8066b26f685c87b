"""The dashboard's session: a signed, expiring cookie that carries the principal the API key
or token was authenticated into (id, name, role), and the CSRF token derived from it.

The cookie holds no credential: only what the authenticator answered. Its lifetime is
AURUM_UI_SESSION_SECONDS (and never past a JWT's own expiry).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import cookie_parser

from app.auth.principal import Principal, Role
from app.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "aurum_session"
# The login form's CSRF token is tied to this pre-session nonce.
LOGIN_COOKIE = "aurum_login"


@dataclass(frozen=True, slots=True)
class UiSession:
    principal: Principal
    expires: float  # epoch seconds
    sid: str  # random per sign-in: the CSRF token is derived from it


def _secret(settings: Settings) -> str:
    if settings.ui_session_secret is not None:
        return settings.ui_session_secret.get_secret_value()
    if settings.jwt_secret is not None:
        # Derived, so a session cookie can never pass as a token or the other way round.
        jwt = settings.jwt_secret.get_secret_value().encode()
        return hmac.new(jwt, b"aurum-ui-session", hashlib.sha256).hexdigest()
    log.warning(
        "no AURUM_UI_SESSION_SECRET or AURUM_JWT_SECRET: dashboard sessions are per process"
    )
    return secrets.token_urlsafe(48)


class SessionCodec:
    """Signs and reads the session cookie; makes and checks CSRF tokens."""

    def __init__(self, settings: Settings) -> None:
        self.max_age = settings.ui_session_seconds
        key = _secret(settings)
        self._serializer = URLSafeTimedSerializer(key, salt="aurum-ui-session")
        self._csrf_key = hmac.new(key.encode(), b"aurum-ui-csrf", hashlib.sha256).digest()

    def issue(self, principal: Principal, *, not_after: float | None = None) -> tuple[str, int]:
        """The cookie value and its Max-Age for a fresh sign-in."""
        now = time.time()
        expires = now + self.max_age
        if not_after is not None:
            expires = min(expires, not_after)
        payload: dict[str, Any] = {
            "id": principal.id,
            "name": principal.name,
            "role": principal.role.value,
            "kind": principal.kind,
            "exp": int(expires),
            "sid": secrets.token_urlsafe(16),
        }
        return self._serializer.dumps(payload), max(1, int(expires - now))

    def read(self, value: str | None) -> UiSession | None:
        """The session a cookie carries, or None (missing, forged, expired)."""
        if not value:
            return None
        try:
            payload = self._serializer.loads(value, max_age=self.max_age)
            expires = float(payload["exp"])
            if expires <= time.time():
                return None
            principal = Principal(
                id=str(payload["id"]),
                name=str(payload["name"]),
                role=Role(payload["role"]),
                kind=payload["kind"],
            )
            return UiSession(principal=principal, expires=expires, sid=str(payload["sid"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None

    def csrf_token(self, binding: str) -> str:
        """The token for a session id (or a login nonce)."""
        return hmac.new(self._csrf_key, binding.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(self.csrf_token(binding), token)

    def principal_of_cookie(self, cookie_header: str | None) -> Principal | None:
        """For the authentication middleware: the session's principal, so dashboard requests
        are rate limited per principal like API calls."""
        session = self.read(cookie_parser(cookie_header or "").get(SESSION_COOKIE))
        return session.principal if session else None
