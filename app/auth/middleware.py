"""Pure ASGI middleware that identifies the caller before rate limiting and routing.

It only identifies: it never refuses. Routers decide what each role may do (attached where
they are included, see app.auth.dependencies), so open routes stay open even when a client
sends a stale credential.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

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
        state["auth_failed"] = False
        if api_key or authorization:
            authenticator = scope["app"].state.resources.authenticator
            try:
                state["principal"] = await authenticator.authenticate(
                    api_key=api_key, authorization=authorization
                )
            except InvalidCredentials:
                state["auth_failed"] = True
        await self.app(scope, receive, send)
