"""`/v1/external`: the read API for downstream apps (reader role; attached in app.main). Pages
are cached in Redis while the `external_read_cache` flag is on; see app/read_api/cache.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from fastapi import APIRouter, Path, Query, Request, Response

from app.db.session import ReadSessionsDep
from app.errors import InvalidInput
from app.read_api import pages
from app.read_api.cache import cache_key, cached_page, matches_etag
from app.resources import Resources

router = APIRouter(prefix="/v1/external", tags=["external data"])

Limit = Query(default=pages.DEFAULT_LIMIT, ge=1, le=pages.MAX_LIMIT)


async def _respond(request: Request, load: Callable[[], Awaitable[bytes]]) -> Response:
    resources: Resources = request.app.state.resources
    config = resources.flags.snapshot.configuration("external_read_cache")
    settings = resources.settings
    page = await cached_page(
        resources.redis,
        request.app.state.read_pages,
        # The path as decoded by the server (`%2F` is `/`) and the raw query: the same key
        # the memory fast path (app/read_api/fast_path.py) looks up before routing.
        cache_key(
            settings.tenant_id,
            request.scope["path"],
            request.scope["query_string"].decode("latin-1"),
        ),
        load,
        ttl_seconds=None if config is None else float(config.get("ttl_seconds", 900)),
        stale_seconds=settings.read_cache_stale_seconds,
        loads=request.app.state.read_loads,
        load_timeout=settings.db_request_timeout_seconds,
    )
    headers = {"ETag": page.etag, "X-Cache": page.cache}
    if matches_etag(request.headers.get("if-none-match"), page.etag):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type="application/json", headers=headers)


@router.get("/series")
async def list_series(
    request: Request,
    reads: ReadSessionsDep,
    provider: str | None = Query(default=None, max_length=32),
    frequency: str | None = Query(default=None, max_length=32),
    q: str | None = Query(default=None, max_length=200, description="Text in title or id"),
    limit: int = Limit,
    cursor: str | None = Query(default=None, max_length=512),
) -> Response:
    async def load() -> bytes:
        # The replica is chosen when the page is loaded, not per request: a cached page
        # costs no lag check.
        return await pages.series_body(
            await reads.sessionmaker(),
            provider=provider,
            frequency=frequency,
            text=q,
            limit=limit,
            cursor=cursor,
        )

    return await _respond(request, load)


SeriesId = Path(
    description=(
        "The id as the catalog lists it. Ids may contain `/` (EIA: "
        "`petroleum/pri/spt:daily:RWTC:value`): send it as is, `/` included (canonical); "
        "`%2F` is decoded to the same id, page and cache entry"
    ),
    max_length=256,
)


# `:path`: the id may span path segments; the route ends with the literal `/observations`.
@router.get("/series/{provider}/{series_id:path}/observations")
async def observations(
    request: Request,
    reads: ReadSessionsDep,
    provider: str,
    series_id: str = SeriesId,
    start: date | None = None,
    end: date | None = None,
    limit: int = Limit,
    cursor: str | None = Query(default=None, max_length=512),
) -> Response:
    if start and end and start > end:
        raise InvalidInput(
            "start must not be after end", details=[{"field": "start", "message": "after end"}]
        )
    resources: Resources = request.app.state.resources
    args = {
        "tenant_id": resources.settings.tenant_id,
        "provider": provider,
        "series_id": series_id,
        "start": start,
        "end": end,
    }

    async def load() -> bytes:
        return await pages.observations_body(
            await reads.sessionmaker(), args, limit=limit, cursor=cursor
        )

    return await _respond(request, load)
