"""Fresh cached read-API pages, answered before routing (app/http/fast_path.py).

A page is in this replica's memory only after the route produced it for exactly this path and
query string, so it already passed validation; answering it here skips FastAPI's parameter
parsing, which was most of a cached page's cost. Anything it cannot answer from memory goes to
the route.
"""

from __future__ import annotations

import time

from starlette.types import Scope

from app.http.fast_path import Answer, json_headers
from app.monitoring.metrics import READ_CACHE_RESULTS
from app.read_api.cache import cache_key, matches_etag

PREFIX = "/v1/external/"
_HIT = READ_CACHE_RESULTS.labels("HIT")


def cached_page(scope: Scope) -> Answer | None:
    app = scope["app"]
    resources = app.state.resources
    if resources.flags.snapshot.configuration("external_read_cache") is None:
        return None
    key = cache_key(
        resources.settings.tenant_id, scope["path"], scope["query_string"].decode("latin-1")
    )
    entry = app.state.read_pages.get(key, time.time())
    if entry is None:
        return None
    _, etag, body = entry
    _HIT.inc()
    headers = [(b"etag", etag.encode()), (b"x-cache", b"HIT")]
    if_none_match = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
    if matches_etag(if_none_match.decode("latin-1") if if_none_match else None, etag):
        return 304, headers, b""
    return 200, headers + json_headers(body), body
