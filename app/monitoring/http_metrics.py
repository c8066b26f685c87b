"""Request count and latency per route template.

This replaces prometheus-fastapi-instrumentator on the hot path. The instrumentator finds a
request's route template by matching the request against every route before calling the app;
with FastAPI's nested included routers that costs more per request than the rest of this
middleware stack. FastAPI already records the route it matched in `scope["route"]`, so the
label is read from there after the call: no second routing pass. Metric names and labels are
the instrumentator's (`http_requests_total{method,status,handler}`,
`http_request_duration_seconds{method,handler}`), so its dashboards keep working.

Recorded by the edge middleware (app.http.middleware), which sees every response: requests
refused before routing (401, 403, 429, 413) are counted too, under the unmatched label.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from starlette.types import Scope

from app.monitoring.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

UNMATCHED = "none"  # every path no route matched shares one label: raw paths never become labels

_Series = tuple[Counter, Histogram]


class HttpMetrics:
    def __init__(self, *, excluded: frozenset[str] = frozenset({"/metrics"})) -> None:
        self.excluded = excluded
        self._series: dict[tuple[str, int, str], _Series] = {}

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        handler = getattr(route, "path", None) or UNMATCHED
        if handler in self.excluded:
            return
        series = self._series.get((scope["method"], status, handler))
        if series is None:
            series = self._add_series(scope["method"], status, handler)
        series[0].inc()
        series[1].observe(seconds)

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
