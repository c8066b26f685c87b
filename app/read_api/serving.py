"""A read-API page for a request, shared by the routes (app/routers/external_data.py) and the
fast path that answers well-formed requests before routing (app/read_api/fast_path.py), so
both send the same bytes, headers, cache results and errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.read_api.cache import Page, cache_key, cached_page, matches_etag

Headers = list[tuple[bytes, bytes]]


async def page_for(app: Any, path: str, query: str, load: Callable[[], Awaitable[bytes]]) -> Page:
    """`path` as decoded by the server (`%2F` is `/`) and the raw query string: the page's
    cache key, the same one the memory tier is looked up with."""
    resources = app.state.resources
    config = resources.flags.snapshot.configuration("external_read_cache")
    settings = resources.settings
    return await cached_page(
        resources.redis,
        app.state.read_pages,
        cache_key(settings.tenant_id, path, query),
        load,
        ttl_seconds=None if config is None else float(config.get("ttl_seconds", 900)),
        stale_seconds=settings.read_cache_stale_seconds,
        loads=app.state.read_loads,
        load_timeout=settings.db_request_timeout_seconds,
    )


def answer_of(page: Page, if_none_match: str | None) -> tuple[int, Headers, bytes]:
    """Status, headers and body of `page`, as Starlette's Response would write them for the
    route (a 304 without a body when `If-None-Match` matches)."""
    headers: Headers = [(b"etag", page.etag.encode("latin-1")), (b"x-cache", page.cache.encode())]
    if matches_etag(if_none_match, page.etag):
        return 304, headers, b""
    headers += [
        (b"content-length", str(len(page.body)).encode()),
        (b"content-type", b"application/json"),
    ]
    return 200, headers, page.body
