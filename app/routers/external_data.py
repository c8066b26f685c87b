"""`/v1/external`: the read API for downstream apps (reader role; attached in app.main). Pages
are cached in Redis while the `external_read_cache` flag is on; see app/read_api/cache.py.

Well-formed GETs are answered before routing by app/read_api/fast_path.py with the same code
(app/read_api/serving.py); these routes answer the rest (validation errors, HEAD, unusual
query strings) and define the API's parameters and documentation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from fastapi import APIRouter, Path, Query, Request, Response

from app.errors import InvalidInput
from app.read_api import pages
from app.read_api.cache import matches_etag
from app.read_api.serving import page_for
from app.resources import Resources

router = APIRouter(prefix="/v1/external", tags=["external data"])

Limit = Query(default=pages.DEFAULT_LIMIT, ge=1, le=pages.MAX_LIMIT)


async def _respond(request: Request, load: Callable[[], Awaitable[bytes]]) -> Response:
    page = await page_for(
        request.app, request.scope["path"], request.scope["query_string"].decode("latin-1"), load
    )
    headers = {"ETag": page.etag, "X-Cache": page.cache}
    if matches_etag(request.headers.get("if-none-match"), page.etag):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type="application/json", headers=headers)


@router.get("/series")
async def list_series(
    request: Request,
    provider: str | None = Query(default=None, max_length=32),
    frequency: str | None = Query(default=None, max_length=32),
    q: str | None = Query(default=None, max_length=200, description="Text in title or id"),
    limit: int = Limit,
    cursor: str | None = Query(default=None, max_length=512),
) -> Response:
    rows = request.app.state.resources.read_rows
    return await _respond(
        request,
        lambda: pages.series_body(
            rows, provider=provider, frequency=frequency, text=q, limit=limit, cursor=cursor
        ),
    )


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
    return await _respond(
        request,
        lambda: pages.observations_body(resources.read_rows, args, limit=limit, cursor=cursor),
    )
