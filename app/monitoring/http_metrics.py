"""Request count and latency per route template, as pure ASGI middleware.

This replaces prometheus-fastapi-instrumentator on the hot path. The instrumentator finds a
request's route template by matching the request against every route before calling the app;
with FastAPI's nested included routers that costs more per request than the rest of this
middleware stack. FastAPI already records the route it matched in `scope["route"]`, so the
label is read from there after the call: no second routing pass. Metric names and labels are
the instrumentator's (`http_requests_total{method,status,handler}`,
`http_request_duration_seconds{method,handler}`), so its dashboards keep working.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.monitoring.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

UNMATCHED = "none"  # every path no route matched shares one label: raw paths never become labels


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, excluded: frozenset[str] = frozenset({"/metrics"})) -> None:
        self.app = app
        self.excluded = excluded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            route = scope.get("route")
            handler = getattr(route, "path", None) or UNMATCHED
            if handler not in self.excluded:
                method = scope["method"]
                HTTP_REQUESTS.labels(method, str(status), handler).inc()
                HTTP_REQUEST_DURATION.labels(method, handler).observe(time.perf_counter() - started)
