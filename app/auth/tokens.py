"""JWT bearer tokens (python-jose, cryptography backend). The accepted algorithm list is
always exactly the one configured algorithm, so `alg: none` and HS256-signed-with-the-public-
key tokens are refused before any key is used."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

from jose import jwt
from jose.exceptions import JWTError

from app.auth.principal import Principal, Role
from app.settings import JwtAlgorithm, RoleClaim, Settings

_CACHE_SIZE = 4096


class InvalidToken(Exception):
    """Refused; the reason is for logs only and is never sent to the caller."""


def _role_from_claims(claims: dict[str, Any], claim: RoleClaim) -> Role:
    if claim is RoleClaim.ROLE:
        value = str(claims.get("role"))
        try:
            return Role(value)
        except ValueError as exc:
            raise InvalidToken(f"role claim {value!r} is not a role") from exc
    scopes = str(claims.get("scope", "")).split()
    names = {role.value for role in Role}
    roles = [Role(s.removeprefix("aurum:")) for s in scopes if s.removeprefix("aurum:") in names]
    if not roles:
        raise InvalidToken("scope claim names no role")
    return max(roles, key=lambda role: role.rank)


def _numeric_dates(claims: dict[str, Any]) -> None:
    """`exp`, `nbf` and `iat` are JSON numbers (RFC 7519 NumericDate). python-jose compares
    `int(value)`, so `"exp": "9999999999"` would pass as a token that never expires."""
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidToken(f"{name} claim is not a number")


class JwtVerifier:
    """Verifies tokens with the configured key; remembers verified tokens until they expire."""

    def __init__(self, settings: Settings, *, secret: str | None = None) -> None:
        self.algorithm = settings.jwt_algorithm
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.leeway = settings.jwt_leeway_seconds
        self.role_claim = settings.jwt_role_claim
        self._secret = secret
        self._public_key: str | None = None
        self._jwks: dict[str, dict[str, Any]] = {}
        if self.algorithm is not JwtAlgorithm.HS256:
            if settings.jwt_jwks_file is not None:
                keys = json.loads(settings.jwt_jwks_file.read_text())["keys"]
                self._jwks = {str(key.get("kid", "")): key for key in keys}
            elif settings.jwt_public_key_file is not None:
                self._public_key = settings.jwt_public_key_file.read_text()
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return bool(self._secret or self._public_key or self._jwks)

    def _key_for(self, token: str) -> Any:
        if self.algorithm is JwtAlgorithm.HS256:
            return self._secret
        if self._jwks:
            kid = str(jwt.get_unverified_header(token).get("kid", ""))
            if kid not in self._jwks:
                raise InvalidToken(f"unknown key id {kid!r}")
            return self._jwks[kid]
        return self._public_key

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None and cached[1] > now:
            self._cache.move_to_end(token)
            return cached[0]
        if not self.enabled:
            raise InvalidToken("JWT authentication is not configured")
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=[self.algorithm.value],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require_exp": True,
                    "verify_aud": self.audience is not None,
                    "leeway": self.leeway,
                },
            )
        except JWTError as exc:
            raise InvalidToken(str(exc)) from exc
        _numeric_dates(claims)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("token has no subject")
        principal = Principal(
            id=f"jwt:{subject}",
            name=subject,
            role=_role_from_claims(claims, self.role_claim),
            kind="jwt",
        )
        self._remember(token, principal, float(claims["exp"]) + self.leeway)
        return principal

    def _remember(self, token: str, principal: Principal, expires: float) -> None:
        self._cache[token] = (principal, expires)
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)


def mint(settings: Settings, *, secret: str, subject: str, role: Role, ttl: timedelta) -> str:
    """An HS256 token for `subject` (the `aurum token mint` command)."""
    if settings.jwt_algorithm is not JwtAlgorithm.HS256:
        raise ValueError("minting is for HS256 deployments; RS256/ES256 tokens come from your IdP")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "iat": now, "nbf": now}
    claims["exp"] = now + int(ttl.total_seconds())
    if settings.jwt_role_claim is RoleClaim.ROLE:
        claims["role"] = role.value
    else:
        claims["scope"] = f"aurum:{role.value}"
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return str(jwt.encode(claims, secret, algorithm="HS256"))
