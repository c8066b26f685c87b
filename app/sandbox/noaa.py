"""NOAA NCEI CDO v2 (GHCND) under /noaa/cdo-web/api/v2/: datasets, stations (with maxdate)
and /data with the `token` header, 1-based offsets, a 1,000-row cap, raw tenths unless
`units` is given, `{}` for no rows, and the 5-per-second throttle per token.

Any non-empty `token` header is accepted (use `sandbox`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.sandbox.catalog import NoaaStation
from app.sandbox.runtime import Handler, ProviderProfile, Sandbox, endpoint, with_retry_after
from app.sandbox.series import stable_fraction

BASE = "/noaa/cdo-web/api/v2"
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
THROTTLE_MESSAGE = "This token has reached its temporary request limit of 5 per second"


class NoaaError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str) -> Response:
    return JSONResponse({"status": str(status), "message": message}, status_code=status)


def _error_200() -> Response:
    return JSONResponse({"status": "500", "message": "An unexpected error occurred."})


def _throttle(status: int, retry_after: int | None) -> Response:
    return with_retry_after(error(status, THROTTLE_MESSAGE), retry_after)


PROFILE = ProviderProfile("noaa", "/noaa/cdo-web/api/v2/", error, _error_200, _throttle)


def _tokened(handler: Any) -> Handler:
    async def run(request: Request, sandbox: Sandbox) -> Response:
        token = request.headers.get("token")
        if not token:
            return error(400, "The token parameter provided is not valid.")
        if sandbox.enforce_limits and not sandbox.noaa_throttle.allow(token):
            return error(429, THROTTLE_MESSAGE)
        try:
            body = await run_in_threadpool(handler, request, sandbox)
        except NoaaError as exc:
            return error(exc.status, str(exc))
        return JSONResponse(body)

    return run


def _multi(request: Request, name: str) -> list[str]:
    return [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v]


def _station(sandbox: Sandbox, station_id: str) -> NoaaStation:
    for st in sandbox.data.catalog.noaa:
        if st.id == station_id:
            return st
    raise NoaaError(f"Station {station_id} was not found.", 404)


def _station_range(sandbox: Sandbox, st: NoaaStation) -> tuple[str, str]:
    firsts, lasts = [], []
    for dt in st.datatypes:
        dates = sandbox.data.view("noaa", f"{st.id}:{dt}").dates
        if dates:
            firsts.append(dates[0])
            lasts.append(dates[-1])
    return (min(firsts).isoformat() if firsts else "", max(lasts).isoformat() if lasts else "")


def _station_body(sandbox: Sandbox, st: NoaaStation) -> dict[str, Any]:
    mindate, maxdate = _station_range(sandbox, st)
    return {
        "elevation": st.elevation,
        "mindate": mindate,
        "maxdate": maxdate,
        "latitude": st.latitude,
        "name": st.name,
        "datacoverage": 0.97,
        "id": st.id,
        "elevationUnit": "METERS",
        "longitude": st.longitude,
    }


def _dataset(sandbox: Sandbox) -> dict[str, Any]:
    ranges = [_station_range(sandbox, st) for st in sandbox.data.catalog.noaa]
    return {
        "uid": "gov.noaa.ncdc:C00861",
        "mindate": min(r[0] for r in ranges),
        "maxdate": max(r[1] for r in ranges),
        "name": "Daily Summaries",
        "datacoverage": 1,
        "id": "GHCND",
    }


def _collection(items: list[dict[str, Any]], offset: int, limit: int) -> dict[str, Any]:
    first = max(offset, 1)
    page = items[first - 1 : first - 1 + limit]
    if not page:
        return {}
    return {
        "metadata": {"resultset": {"offset": first, "count": len(items), "limit": limit}},
        "results": page,
    }


def _paging(request: Request) -> tuple[int, int]:
    try:
        limit = int(request.query_params.get("limit", DEFAULT_LIMIT))
        offset = int(request.query_params.get("offset", 0))
    except ValueError:
        raise NoaaError("limit and offset must be integers.") from None
    return offset, max(1, min(limit, MAX_LIMIT))  # asking for more is silently capped


def datasets(request: Request, sandbox: Sandbox) -> dict[str, Any]:
    offset, limit = _paging(request)
    return _collection([_dataset(sandbox)], offset, limit)


def dataset(request: Request, sandbox: Sandbox) -> dict[str, Any]:
    if request.path_params["dataset_id"] != "GHCND":
        raise NoaaError("Dataset not found.", 404)
    return _dataset(sandbox)


def stations(request: Request, sandbox: Sandbox) -> dict[str, Any]:
    wanted = set(_multi(request, "stationid"))
    items = [
        _station_body(sandbox, st)
        for st in sandbox.data.catalog.noaa
        if not wanted or st.id in wanted
    ]
    offset, limit = _paging(request)
    return _collection(items, offset, limit)


def station(request: Request, sandbox: Sandbox) -> dict[str, Any]:
    return _station_body(sandbox, _station(sandbox, request.path_params["station_id"]))


def _date(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    if not raw:
        raise NoaaError(f"Required parameter '{name}' is missing.")
    try:
        return datetime.fromisoformat(raw).date() if "T" in raw else date.fromisoformat(raw)
    except ValueError:
        raise NoaaError(f"Parameter '{name}' has an invalid date format: {raw}") from None


def _one_year_later(d: date) -> date:
    try:
        return d.replace(year=d.year + 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year + 1, day=28)


def _convert(raw: float, datatype: str, units: str | None) -> float | int:
    if units is None:
        return int(raw)
    if datatype == "PRCP":
        mm = raw / 10
        return round(mm, 1) if units == "metric" else round(mm / 25.4, 2)
    celsius = raw / 10
    return round(celsius, 1) if units == "metric" else round(celsius * 9 / 5 + 32, 0)


def _attributes(station: str, datatype: str, d: date, raw: float) -> str:
    mflag = "T" if datatype == "PRCP" and raw == 0 and stable_fraction(station, d) < 0.1 else ""
    return f"{mflag},,W,2400"


def observations(request: Request, sandbox: Sandbox) -> dict[str, Any]:
    if request.query_params.get("datasetid") != "GHCND":
        raise NoaaError("Required parameter 'datasetid' is missing or not a known dataset.")
    start, end = _date(request, "startdate"), _date(request, "enddate")
    if end < start:
        raise NoaaError("The startdate must be before the enddate.")
    if end >= _one_year_later(start):
        raise NoaaError("The date range must be less than 1 year.")
    units = request.query_params.get("units")
    if units not in (None, "metric", "standard"):
        raise NoaaError(f"Parameter 'units' has an invalid value: {units}")
    offset, limit = _paging(request)
    wanted_stations = set(_multi(request, "stationid"))
    wanted_types = set(_multi(request, "datatypeid"))
    rows: list[tuple[date, str, str, float]] = []
    for st in sandbox.data.catalog.noaa:
        if wanted_stations and st.id not in wanted_stations:
            continue
        for dt in st.datatypes:
            if wanted_types and dt not in wanted_types:
                continue
            view = sandbox.data.view("noaa", f"{st.id}:{dt}")
            for d, v in zip(view.dates, view.values, strict=True):
                if start <= d <= end and v is not None:
                    rows.append((d, dt, st.id, v))
    rows.sort(reverse=request.query_params.get("sortorder") == "desc")
    items = [
        {
            "date": f"{d.isoformat()}T00:00:00",
            "datatype": dt,
            "station": sid,
            "attributes": _attributes(sid, dt, d, v),
            "value": _convert(v, dt, units),
        }
        for d, dt, sid, v in rows
    ]
    return _collection(items, offset, limit)


async def _not_found(request: Request, sandbox: Sandbox) -> Response:
    return error(404, "Endpoint not found.")


def routes() -> list[BaseRoute]:
    def add(path: str, name: str, fn: Any) -> Route:
        return Route(f"{BASE}/{path}", endpoint(PROFILE, name, _tokened(fn)))

    return [
        add("datasets", "datasets", datasets),
        add("datasets/{dataset_id}", "datasets/{id}", dataset),
        add("stations", "stations", stations),
        add("stations/{station_id}", "stations/{id}", station),
        add("data", "data", observations),
        Route(BASE + "/{path:path}", endpoint(PROFILE, "unknown", _not_found)),
    ]
