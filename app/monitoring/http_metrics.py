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

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.monitoring.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

_Series = tuple[Counter, Histogram]

UNMATCHED = "none"  # every path no route matched shares one label: raw paths never become labels


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, excluded: frozenset[str] = frozenset({"/metrics"})) -> None:
        self.app = app
        self.excluded = excluded
        self._series: dict[tuple[str, int, str], _Series] = {}

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
                series = self._series.get((scope["method"], status, handler))
                if series is None:
                    series = self._add_series(scope["method"], status, handler)
                series[0].inc()
                series[1].observe(time.perf_counter() - started)

    def _add_series(self, method: str, status: int, handler: str) -> _Series:
        # `labels()` builds and looks up a label tuple under a lock on every call; the children
        # are cached per (method, status, route template) instead: a bounded set, since
        # unmatched paths share one label.
        series = (
            HTTP_REQUESTS.labels(method, str(status), handler),
            HTTP_REQUEST_DURATION.labels(method, handler),
        )
        self._series[method, status, handler] = series
        return series
