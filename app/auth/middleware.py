"""Pure ASGI middleware that identifies the caller before rate limiting and routing.

It only identifies: it never refuses. Routers decide what each role may do (attached where
they are included, see app.auth.dependencies), so open routes stay open even when a client
sends a stale credential. On an open route (the probes, `/metrics`) credentials are not even
looked at: an API key's lookup may wait for PostgreSQL, and liveness must never wait for I/O.
When a key cannot be checked (PostgreSQL not answering, app/auth/api_keys.py) the request is
marked so, and authorization answers 503 rather than 401.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.api_keys import CredentialsUnavailable
from app.auth.authenticator import InvalidCredentials


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api_key = authorization = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                api_key = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
        state = scope.setdefault("state", {})
        state["principal"] = None
        state["auth_failed"] = state["auth_unavailable"] = False
        app_state = scope["app"].state
        if (api_key or authorization) and app_state.access_policies.resolve(scope["path"]):
            try:
                state["principal"] = await app_state.resources.authenticator.authenticate(
                    api_key=api_key, authorization=authorization
                )
            except InvalidCredentials:
                state["auth_failed"] = True
            except CredentialsUnavailable:
                state["auth_unavailable"] = True
        await self.app(scope, receive, send)
