"""Pure ASGI middleware that identifies the caller before rate limiting and routing.

It only identifies: it never refuses. Routers decide what each role may do (attached where
they are included, see app.auth.dependencies), so open routes stay open even when a client
sends a stale credential. On an open route (the probes, `/metrics`) credentials are not even
looked at: an API key's lookup may wait for PostgreSQL, and liveness must never wait for I/O.
When a key cannot be checked (PostgreSQL not answering, app/auth/api_keys.py) the request is
marked so, and authorization answers 503 rather than 401.
"""

from __future__ import annotations

from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.api_keys import CredentialsUnavailable
from app.auth.authenticator import InvalidCredentials
from app.auth.principal import Principal


class CookieSessions(Protocol):
    """The dashboard's session reader (app/ui/session.py), set on the app's state."""

    def principal_of_cookie(self, cookie_header: str | None) -> Principal | None: ...


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api_key = authorization = cookie = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                api_key = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value.decode("latin-1")
        state = scope.setdefault("state", {})
        state["principal"] = None
        state["auth_failed"] = state["auth_unavailable"] = False
        app_state = scope["app"].state
        path: str = scope["path"]
        if path == "/ui" or path.startswith("/ui/"):
            # The dashboard signs in with its session cookie only (app/ui/session.py): API
            # credentials in headers are not looked at there.
            sessions: CookieSessions | None = getattr(app_state, "ui_sessions", None)
            if sessions is not None and cookie:
                state["principal"] = sessions.principal_of_cookie(cookie)
            await self.app(scope, receive, send)
            return
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
