"""Pure ASGI middleware that refuses a request its caller may not make, before routing.

It sits inside the rate limiter, so refused attempts are still counted against the caller
(by IP when anonymous): guessing credentials is throttled like anything else.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.policy import AccessPolicies
from app.auth.principal import Principal
from app.http.errors import send_error

_CHALLENGE = [(b"www-authenticate", b'Bearer realm="aurum"')]
MISSING = (
    "Authentication required: send an API key in X-API-Key or a token in "
    "'Authorization: Bearer <token>'."
)
INVALID = "Invalid or expired credentials."
UNCHECKABLE = (
    "Your credential cannot be checked now: the database is not answering. Retry in a few "
    "seconds (a key verified in the last minutes keeps working; dependency states: GET /ready)."
)


class AuthorizationMiddleware:
    def __init__(self, app: ASGIApp, *, policies: AccessPolicies) -> None:
        self.app = app
        self.policies = policies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policies.resolve(scope["path"])
        if policy is not None:
            state = scope["state"]
            principal: Principal | None = state.get("principal")
            if principal is None and state.get("auth_unavailable"):
                await send_error(send, 503, UNCHECKABLE, headers=[(b"retry-after", b"5")])
                return
            if principal is None:
                message = INVALID if state.get("auth_failed") else MISSING
                await send_error(send, 401, message, headers=_CHALLENGE)
                return
            required = policy.required(scope["method"])
            if not principal.role.allows(required):
                await send_error(
                    send,
                    403,
                    f"This needs the '{required.value}' role; your credential has "
                    f"'{principal.role.value}'.",
                )
                return
        await self.app(scope, receive, send)
