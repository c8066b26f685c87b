"""Serve fresh cached read-API pages before routing.

A page is in this replica's memory only after the route produced it for exactly this path and
query string, so it already passed validation; answering it here skips FastAPI's parameter
parsing, which was most of a cached page's cost. It sits inside authentication, rate limiting
and authorization (added before them in app.main), so every request is still authenticated,
counted and authorized. Anything it cannot answer from memory goes to the route.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from app.monitoring.metrics import READ_CACHE_RESULTS
from app.read_api.cache import cache_key, matches_etag

PREFIX = "/v1/external/"


class CachedPagesMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._hit = READ_CACHE_RESULTS.labels("HIT")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        resources = app.state.resources
        if resources.flags.snapshot.configuration("external_read_cache") is None:
            await self.app(scope, receive, send)
            return
        key = cache_key(
            resources.settings.tenant_id, scope["path"], scope["query_string"].decode("latin-1")
        )
        entry = app.state.read_pages.get(key, time.time())
        if entry is None:
            await self.app(scope, receive, send)
            return
        _, etag, body = entry
        self._hit.inc()
        headers = [(b"etag", etag.encode()), (b"x-cache", b"HIT")]
        if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if matches_etag(if_none_match.decode("latin-1") if if_none_match else None, etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
