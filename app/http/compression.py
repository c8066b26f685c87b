"""Gzip for responses over 1 KB, only for clients that accept it.

Starlette's GZipMiddleware wraps every request in a responder, even when the client sends no
`Accept-Encoding: gzip` (most API clients: curl, scripts, load generators), which then only
passes the response through. Here such requests go straight to the app, and the others to
Starlette's GZipMiddleware unchanged.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


def _accepts_gzip(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            return b"gzip" in value.lower()
    return False


class GzipWhenAccepted:
    def __init__(self, app: ASGIApp, *, minimum_size: int, compresslevel: int) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _accepts_gzip(scope):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
