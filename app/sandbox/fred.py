"""FRED v1 under /fred/: series, series/observations, series/updates, series/search.

Any non-empty `api_key` is accepted (use `sandbox`); a missing one gets FRED's 400, sent with
FRED's documented `Content-Type: text/xml` on a JSON body."""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from http import HTTPStatus
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.sandbox.catalog import FRED_SHORT, FredSeries
from app.sandbox.runtime import ProviderProfile, Sandbox, endpoint, with_retry_after
from app.sandbox.store import UnknownSeries, View

CENTRAL = timezone(timedelta(hours=-5))  # FRED stamps last_updated in US Central (-05 here)
UPDATES_WINDOW = timedelta(days=14)
OBS_LIMIT = 100_000
LIST_LIMIT = 1000


class FredError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str) -> Response:
    body = {"error_code": status, "error_message": f"{HTTPStatus(status).phrase}.  {message}"}
    # FRED's own example answers a JSON error with Content-Type text/xml.
    media = "text/xml" if status == 400 else "application/json"
    return JSONResponse(body, status_code=status, media_type=media)


def _error_200() -> Response:
    return JSONResponse({"error_code": 500, "error_message": "Internal Server Error.  Sandbox."})


def _throttle(status: int, retry_after: int | None) -> Response:
    return with_retry_after(error(status, "Exceeded Rate Limit"), retry_after)


PROFILE = ProviderProfile("fred", "/fred/", error, _error_200, _throttle)


def _fmt_updated(ts: datetime) -> str:
    return ts.astimezone(CENTRAL).strftime("%Y-%m-%d %H:%M:%S-05")


def _today() -> str:
    return datetime.now(CENTRAL).date().isoformat()


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise FredError(f"Variable {name} is not an integer.") from None
    if not low <= value <= high:
        raise FredError(f"Variable {name} is not between {low} and {high}.")
    return value


def _date(request: Request, name: str, default: str) -> date:
    raw = request.query_params.get(name, default)
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else date.fromisoformat("x")
    except ValueError:
        raise FredError(
            f"Variable {name} is not a YYYY-MM-DD formatted date (e.g. 2000-02-24)."
        ) from None


def _guarded(handler: Any) -> Any:
    """Key check, JSON-or-XML and FredError → FRED's error body, around a handler."""

    async def run(request: Request, sandbox: Sandbox) -> Response:
        if not request.query_params.get("api_key"):
            return error(400, "Variable api_key has not been set.")
        try:
            body = await run_in_threadpool(handler, request, sandbox)
        except FredError as exc:
            return error(exc.status, str(exc))
        except UnknownSeries:
            return error(400, "The series does not exist.")
        if request.query_params.get("file_type", "xml") != "json":
            count = body.get("count", len(body.get("seriess", [])))
            xml = (
                '<?xml version="1.0" encoding="utf-8" ?>\n'
                f'<sandbox count="{count}" note="FRED answers XML unless file_type=json"/>\n'
            )
            return Response(xml, media_type="text/xml; charset=UTF-8")
        return _json_response(body)

    return run


@dataclass(frozen=True)
class Prerendered:
    """Array items already written as JSON (the text between the brackets)."""

    items: str


def _json_response(body: dict[str, Any]) -> Response:
    """JSONResponse's bytes, with a Prerendered value spliced in as its array."""
    parts = {k: v for k, v in body.items() if isinstance(v, Prerendered)}
    if not parts:
        return JSONResponse(body)
    marks = {key: f"\x00{key}\x00" for key in parts}
    text = json.dumps(
        {k: marks.get(k, v) for k, v in body.items()},
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    for key, value in parts.items():
        text = text.replace(json.dumps(marks[key]), f"[{value.items}]")
    return Response(text.encode(), media_type="application/json")


def _meta(sandbox: Sandbox, series_id: str) -> dict[str, Any]:
    view = sandbox.data.view("fred", series_id)
    info = _catalog_entry(sandbox, series_id)
    today = _today()
    sa = info.seasonal_adjustment
    return {
        "id": series_id,
        "realtime_start": today,
        "realtime_end": today,
        "title": info.title,
        "observation_start": view.dates[0].isoformat() if view.dates else "",
        "observation_end": view.dates[-1].isoformat() if view.dates else "",
        "frequency": view.spec.frequency.value.capitalize(),
        "frequency_short": FRED_SHORT[view.spec.frequency],
        "units": info.units,
        "units_short": info.units_short,
        "seasonal_adjustment": sa,
        "seasonal_adjustment_short": "NSA" if sa.startswith("Not") else "SA",
        "last_updated": _fmt_updated(view.last_updated),
        "popularity": info.popularity,
        "notes": "Generated by the Aurum provider sandbox; not real data.",
    }


def _catalog_entry(sandbox: Sandbox, series_id: str) -> FredSeries:
    for s in sandbox.data.catalog.fred:
        if s.id == series_id:
            return s
    spec = sandbox.data.spec("fred", series_id)
    return FredSeries(
        series_id,
        f"Bulk series {series_id}",
        spec.frequency,
        "Index",
        "Index",
        spec.shape,
        start=spec.start,
        popularity=1,
        synthetic=True,
    )


def _series_id(request: Request, sandbox: Sandbox) -> str:
    series_id = request.query_params.get("series_id")
    if not series_id:
        raise FredError("Variable series_id is not set.")
    if not sandbox.data.has("fred", series_id):
        raise UnknownSeries(series_id)
    return series_id


def series(request: Request, sandbox: Sandbox) -> dict[str, Any]:
    meta = _meta(sandbox, _series_id(request, sandbox))
    return {
        "realtime_start": meta["realtime_start"],
        "realtime_end": meta["realtime_end"],
        "seriess": [meta],
    }


def observations(request: Request, sandbox: Sandbox) -> dict[str, Any]:
    series_id = _series_id(request, sandbox)
    start = _date(request, "observation_start", "1776-07-04")
    end = _date(request, "observation_end", "9999-12-31")
    limit = _int(request, "limit", OBS_LIMIT, 1, OBS_LIMIT)
    offset = _int(request, "offset", 0, 0, 10**9)
    order = request.query_params.get("sort_order", "asc")
    if order not in ("asc", "desc"):
        raise FredError("Variable sort_order can only be 'asc' or 'desc'.")
    view: View = sandbox.data.view("fred", series_id)
    lo, hi = bisect_left(view.dates, start), bisect_right(view.dates, end)
    total = max(hi - lo, 0)
    if order == "asc":
        idx = range(lo + offset, min(lo + offset + limit, hi))
    else:
        idx = range(hi - 1 - offset, max(hi - 1 - offset - limit, lo - 1), -1)
    today = _today()
    decimals = view.spec.shape.decimals
    # The rows as the JSON JSONResponse would write for their dicts (same keys, order and
    # separators), formatted directly: a page is up to 100,000 rows.
    rows = Prerendered(
        ",".join(
            [
                f'{{"realtime_start":"{today}","realtime_end":"{today}",'
                f'"date":"{view.dates[i].isoformat()}","value":'
                f'"{"." if (v := view.values[i]) is None else f"{v:.{decimals}f}"}"}}'
                for i in idx
            ]
        )
    )
    return {
        "realtime_start": today,
        "realtime_end": today,
        "observation_start": start.isoformat(),
        "observation_end": end.isoformat(),
        "units": "lin",
        "output_type": 1,
        "file_type": "json",
        "order_by": "observation_date",
        "sort_order": order,
        "count": total,
        "offset": offset,
        "limit": limit,
        "observations": rows,
    }


def _parse_time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return datetime.strptime(raw, "%Y%m%d%H%M").replace(tzinfo=CENTRAL)
    except ValueError:
        raise FredError(f"Variable {name} is not a YYYYMMDDHhmm formatted time.") from None


def updates(request: Request, sandbox: Sandbox) -> dict[str, Any]:
    limit = _int(request, "limit", LIST_LIMIT, 1, LIST_LIMIT)
    offset = _int(request, "offset", 0, 0, 10**9)
    start, end = _parse_time(request, "start_time"), _parse_time(request, "end_time")
    if (start is None) != (end is None):
        raise FredError("Variables start_time and end_time must be set together.")
    floor = datetime.now(UTC) - UPDATES_WINDOW
    hits: list[tuple[datetime, str]] = []
    for key in sandbox.data.keys("fred"):
        ts = sandbox.data.last_updated("fred", key)
        if ts < floor or (start is not None and end is not None and not start <= ts <= end):
            continue
        hits.append((ts, key))
    hits.sort(key=lambda h: (h[0], h[1]), reverse=True)
    page = hits[offset : offset + limit]
    today = _today()
    return {
        "realtime_start": today,
        "realtime_end": today,
        "filter_variable": "geography",
        "filter_value": request.query_params.get("filter_value", "all"),
        "order_by": "last_updated",
        "sort_order": "desc",
        "count": len(hits),
        "offset": offset,
        "limit": limit,
        "seriess": [_meta(sandbox, key) for _, key in page],
    }


def search(request: Request, sandbox: Sandbox) -> dict[str, Any]:
    text = request.query_params.get("search_text")
    if not text:
        raise FredError("Variable search_text is not set.")
    limit = _int(request, "limit", LIST_LIMIT, 1, LIST_LIMIT)
    offset = _int(request, "offset", 0, 0, 10**9)
    words = text.lower().split()
    found = [
        s.id
        for s in sandbox.data.catalog.fred
        if all(w in f"{s.id} {s.title}".lower() for w in words)
    ]
    today = _today()
    return {
        "realtime_start": today,
        "realtime_end": today,
        "order_by": "search_rank",
        "sort_order": "desc",
        "count": len(found),
        "offset": offset,
        "limit": limit,
        "seriess": [_meta(sandbox, key) for key in found[offset : offset + limit]],
    }


def routes() -> list[BaseRoute]:
    table = {
        "series": series,
        "series/observations": observations,
        "series/updates": updates,
        "series/search": search,
    }
    return [
        Route(f"/fred/{name}", endpoint(PROFILE, name, _guarded(fn))) for name, fn in table.items()
    ]
