"""Read-API pages answered before routing (app/http/fast_path.py).

A fresh page in this replica's memory is sent as it is: it is there only because the route
produced it for exactly this path and query string, so it already passed validation.

Otherwise a well-formed GET (known parameters, each once, values the route would accept as
they are) is answered here with the route's own code (app/read_api/serving.py): the same page,
cache tier, headers and JSON errors, without FastAPI's routing, request object and parameter
solving, which cost more CPU than the page's query. Anything else (a value the route would
refuse or coerce, an unknown or repeated parameter, a blank value, `start` after `end`) goes
to the route, which validates and answers it exactly as before.
"""

from __future__ import annotations

import re
import time
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import BaseRoute
from starlette.types import Scope

from app.errors import AurumError
from app.http.errors import error_response
from app.http.fast_path import Answer, json_headers
from app.read_api import pages
from app.read_api.cache import HITS, cache_key, matches_etag
from app.read_api.serving import answer_of, page_for

PREFIX = "/v1/external/"
CATALOG_ROUTE = "/v1/external/series"
OBSERVATIONS_ROUTE = "/v1/external/series/{provider}/{series_id:path}/observations"
# The route's own pattern: `{provider}` is one segment, `{series_id:path}` anything (greedy).
_OBSERVATIONS = re.compile(r"^/v1/external/series/([^/]+)/(.*)/observations$")
_LIMIT = re.compile(r"^[1-9][0-9]{0,3}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# Parameter → longest value (characters) the route accepts; the routes' Query(max_length=...).
_CATALOG_TEXT = {"provider": 32, "frequency": 32, "q": 200, "cursor": 512}
_SERIES_ID_MAX = 256
_OBSERVATION_PARAMS = frozenset({"start", "end", "limit", "cursor"})
_routes: dict[str, BaseRoute] = {}


class _ToRoute(Exception):
    """The request is one for the route to validate and answer."""


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
    HITS.inc()
    headers = [(b"etag", etag.encode()), (b"x-cache", b"HIT")]
    if matches_etag(_if_none_match(scope), etag):
        return 304, headers, b""
    return 200, headers + json_headers(body), body


async def read_page(scope: Scope) -> Answer | None:
    """The answer for a read-API GET, or None to let the route answer it."""
    cached = cached_page(scope)
    if cached is not None or scope.get("root_path"):
        return cached
    path: str = scope["path"]
    try:
        params = _params(scope["query_string"])
        if path == CATALOG_ROUTE:
            return await _catalog(scope, params)
        match = _OBSERVATIONS.match(path)
        if match is None:
            return None
        return await _observations(scope, params, match[1], match[2])
    except _ToRoute:
        return None


async def _catalog(scope: Scope, params: dict[str, str]) -> Answer:
    for name, value in params.items():
        if name != "limit" and len(value) > _CATALOG_TEXT.get(name, 0):
            raise _ToRoute
    limit = _limit(params)
    rows = scope["app"].state.resources.read_rows
    return await _answer(
        scope,
        CATALOG_ROUTE,
        lambda: pages.series_body(
            rows,
            provider=params.get("provider"),
            frequency=params.get("frequency"),
            text=params.get("q"),
            limit=limit,
            cursor=params.get("cursor"),
        ),
    )


async def _observations(
    scope: Scope, params: dict[str, str], provider: str, series_id: str
) -> Answer:
    if len(series_id) > _SERIES_ID_MAX or not params.keys() <= _OBSERVATION_PARAMS:
        raise _ToRoute
    if len(params.get("cursor", "")) > _CATALOG_TEXT["cursor"]:
        raise _ToRoute
    limit = _limit(params)
    start, end = _date(params.get("start")), _date(params.get("end"))
    if start and end and start > end:
        raise _ToRoute  # the route's 422
    resources = scope["app"].state.resources
    args = {
        "tenant_id": resources.settings.tenant_id,
        "provider": provider,
        "series_id": series_id,
        "start": start,
        "end": end,
    }
    scope["path_params"] = {"provider": provider, "series_id": series_id}
    rows = resources.read_rows
    cursor = params.get("cursor")
    return await _answer(
        scope,
        OBSERVATIONS_ROUTE,
        lambda: pages.observations_body(rows, args, limit=limit, cursor=cursor),
    )


async def _answer(scope: Scope, route_path: str, load: Any) -> Answer:
    app = scope["app"]
    scope["route"] = _route(app, route_path)  # for the HTTP metrics, as routing would
    try:
        page = await page_for(app, scope["path"], scope["query_string"].decode("latin-1"), load)
    except AurumError as exc:  # what the app's handler answers for it (app/http/errors.py)
        response = error_response(
            exc.status_code, exc.message, code=exc.code, details=exc.details, headers=exc.headers
        )
        return response.status_code, response.raw_headers, bytes(response.body)
    return answer_of(page, _if_none_match(scope))


def _params(query_string: bytes) -> dict[str, str]:
    """The query as the route would read it (Starlette's own parsing); a repeated or blank
    parameter goes to the route."""
    if not query_string:
        return {}
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs) or not all(params.values()):
        raise _ToRoute
    return params


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return pages.DEFAULT_LIMIT
    if not _LIMIT.match(raw) or int(raw) > pages.MAX_LIMIT:
        raise _ToRoute
    return int(raw)


def _date(raw: str | None) -> date | None:
    if raw is None:
        return None
    if not _DATE.match(raw):
        raise _ToRoute
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _ToRoute from None


def _if_none_match(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return str(value.decode("latin-1"))
    return None


def _route(app: Any, path: str) -> BaseRoute:
    route = _routes.get(path)
    if route is None:
        route = _routes[path] = next(r for r in app.router.routes if getattr(r, "path", "") == path)
    return route
