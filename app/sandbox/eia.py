"""EIA Open Data v2 under /eia/v2/: the route tree, route metadata, facet values and
`{route}/data/` with bracketed parameters, 5,000-row pages, string values and totals.

Any non-empty `api_key` query parameter is accepted (use `sandbox`)."""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.sandbox.catalog import EiaRoute
from app.sandbox.runtime import Handler, ProviderProfile, Sandbox, endpoint, with_retry_after
from app.sandbox.series import Frequency, eia_period

API_VERSION = "2.1.10"
MAX_LENGTH = 5000
FORMATS = {
    Frequency.ANNUAL: ("YYYY", "A"),
    Frequency.QUARTERLY: ('YYYY-"Q"Q', "Q"),
    Frequency.MONTHLY: ("YYYY-MM", "M"),
    Frequency.WEEKLY: ("YYYY-MM-DD", "W"),
    Frequency.DAILY: ("YYYY-MM-DD", "D"),
}
DATA_KEY = re.compile(r"^data\[\d*\]$")
FACET_KEY = re.compile(r"^facets\[([^\]]+)\]\[\d*\]$")
SORT_KEY = re.compile(r"^sort\[(\d+)\]\[(column|direction)\]$")
INCOMPLETE = (
    "The API can only return 5000 rows in JSON format.  Please consider constraining your "
    "request with facet, start, or end, or using offset to paginate results."
)


class EiaError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str) -> Response:
    return JSONResponse({"error": message, "code": status}, status_code=status)


def _error_200() -> Response:
    # Before v2.1.10 EIA sent error bodies with HTTP 200.
    return JSONResponse({"error": "Something unexpected happened.", "code": 400})


def _throttle(status: int, retry_after: int | None) -> Response:
    body = {
        "error": {
            "code": "OVER_RATE_LIMIT",
            "message": "API key temporarily suspended for exceeding the rate limit.",
        }
    }
    return with_retry_after(JSONResponse(body, status_code=status), retry_after)


PROFILE = ProviderProfile("eia", "/eia/v2/", error, _error_200, _throttle)


def _keyed(handler: Any) -> Handler:
    async def run(request: Request, sandbox: Sandbox) -> Response:
        if not request.query_params.get("api_key"):
            body = {
                "error": {
                    "code": "API_KEY_MISSING",
                    "message": (
                        "No api_key was supplied.  Please register for one at "
                        "https://www.eia.gov/opendata/register.php"
                    ),
                }
            }
            return JSONResponse(body, status_code=403)
        try:
            return JSONResponse(await run_in_threadpool(handler, request, sandbox))
        except EiaError as exc:
            return error(exc.status, str(exc))

    return run


def _echo(request: Request) -> dict[str, Any]:
    params = {k: v for k, v in request.query_params.multi_items() if k != "api_key"}
    return {"command": request.url.path.removeprefix("/eia"), "params": params}


def _frequency(route: EiaRoute, raw: str | None) -> Frequency:
    if raw is None:
        return route.frequencies[0]
    for freq in route.frequencies:
        if freq.value == raw:
            return freq
    names = ", ".join(f"'{f.value}'" for f in route.frequencies)
    raise EiaError(f"Invalid frequency '{raw}' provided. The only valid frequencies are {names}.")


def _int(raw: str | None, name: str, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EiaError(f"Invalid {name} '{raw}' provided; it must be an integer.") from None
    if value < 0:
        raise EiaError(f"Invalid {name} '{raw}' provided; it must not be negative.")
    return value


def _route_rows(
    route: EiaRoute,
    freq: Frequency,
    facets: dict[str, list[str]],
    columns: list[str],
    sandbox: Sandbox,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for combo in route.combos():
        if any(combo[i] not in facets[f.id] for i, f in enumerate(route.facets) if f.id in facets):
            continue
        view = sandbox.data.view("eia", route.key(freq, combo))
        decimals = view.spec.shape.decimals
        dims: dict[str, Any] = {}
        for facet, code in zip(route.facets, combo, strict=True):
            dims[facet.id] = code
            dims[facet.name_column] = facet.values[code]
        for d, v in zip(view.dates, view.values, strict=True):
            row: dict[str, Any] = {"period": eia_period(freq, d), **dims}
            for col in columns:
                row[col] = None if v is None else f"{v:.{decimals}f}"
                row[f"{col}-units"] = route.units
            rows.append(row)
    return rows


def _sorts(request: Request, route: EiaRoute) -> list[tuple[str, bool]]:
    found: dict[int, dict[str, str]] = {}
    for key, value in request.query_params.multi_items():
        if m := SORT_KEY.match(key):
            found.setdefault(int(m.group(1)), {})[m.group(2)] = value
    allowed = {"period", route.column, *(f.id for f in route.facets)}
    out: list[tuple[str, bool]] = []
    for _, spec in sorted(found.items()):
        column, direction = spec.get("column"), spec.get("direction", "asc")
        if column not in allowed:
            raise EiaError(f"Invalid sort column '{column}' provided.")
        if direction not in ("asc", "desc"):
            raise EiaError(f"Invalid sort direction '{direction}' provided.")
        out.append((column, direction == "desc"))
    return out


def _sort_key(column: str, row: dict[str, Any]) -> tuple[int, float, str]:
    """Numbers by value, everything else (periods, codes) as strings; missing first."""
    value = row.get(column)
    if value is None:
        return (0, 0.0, "")
    try:
        return (1, float(value), "") if column != "period" else (2, 0.0, str(value))
    except ValueError:
        return (2, 0.0, str(value))


def data(route: EiaRoute) -> Any:
    def run(request: Request, sandbox: Sandbox) -> dict[str, Any]:
        q = request.query_params
        freq = _frequency(route, q.get("frequency"))
        columns: list[str] = []
        facets: dict[str, list[str]] = {}
        for key, value in q.multi_items():
            if DATA_KEY.match(key):
                if value != route.column:
                    raise EiaError(f"Invalid data column '{value}' provided.")
                columns.append(value)
            elif m := FACET_KEY.match(key):
                if m.group(1) not in {f.id for f in route.facets}:
                    raise EiaError(f"Invalid facet '{m.group(1)}' provided.")
                facets.setdefault(m.group(1), []).append(value)
        sorts = _sorts(request, route)
        offset = _int(q.get("offset"), "offset", 0)
        length = _int(q.get("length"), "length", MAX_LENGTH)
        rows = _route_rows(route, freq, facets, columns, sandbox)
        start, end = q.get("start"), q.get("end")
        rows = [
            r
            for r in rows
            if (start is None or r["period"] >= start) and (end is None or r["period"] <= end)
        ]
        for column, reverse in reversed(sorts or [("period", False)]):
            rows.sort(key=partial(_sort_key, column), reverse=reverse)
        warnings: list[dict[str, str]] = []
        if length > MAX_LENGTH:
            warnings.append(
                {
                    "warning": "parameter out of range",
                    "description": (
                        f"The length parameter ({length}) exceeds the maximum of {MAX_LENGTH}; "
                        f"{MAX_LENGTH} rows were returned."
                    ),
                }
            )
            length = MAX_LENGTH
        page = rows[offset : offset + length]
        if len(page) < len(rows):
            warnings.append({"warning": "incomplete return", "description": INCOMPLETE})
        response: dict[str, Any] = {}
        if warnings:
            response["warnings"] = warnings
        response.update(
            {
                "total": str(len(rows)),
                "dateFormat": FORMATS[freq][0],
                "frequency": freq.value,
                "data": page,
                "description": route.name,
            }
        )
        return {"response": response, "request": _echo(request), "apiVersion": API_VERSION}

    return run


def metadata(route: EiaRoute) -> Any:
    def run(request: Request, sandbox: Sandbox) -> dict[str, Any]:
        freq = route.frequencies[0]
        periods: list[str] = []
        for combo in route.combos():
            dates = sandbox.data.view("eia", route.key(freq, combo)).dates
            periods += [eia_period(freq, d) for d in dates[:1] + dates[-1:]]
        response = {
            "id": route.route.rsplit("/", 1)[-1],
            "name": route.name,
            "description": f"{route.name} (sandbox data)",
            "frequency": [
                {
                    "id": f.value,
                    "alias": f.value.capitalize(),
                    "description": f"{f.value} data",
                    "query": FORMATS[f][1],
                    "format": FORMATS[f][0],
                }
                for f in route.frequencies
            ],
            "facets": [{"id": f.id, "description": f.description} for f in route.facets],
            "data": {route.column: {"alias": route.column, "units": route.units}},
            "startPeriod": min(periods, default=None),
            "endPeriod": max(periods, default=None),
            "defaultDateFormat": FORMATS[freq][0],
            "defaultFrequency": freq.value,
        }
        return {"response": response, "request": _echo(request), "apiVersion": API_VERSION}

    return run


def facet_values(route: EiaRoute) -> Any:
    def run(request: Request, sandbox: Sandbox) -> dict[str, Any]:
        facet_id = request.path_params["facet_id"]
        for facet in route.facets:
            if facet.id == facet_id:
                items = [
                    {"id": k, "name": v, "alias": f"({k}) {v}"} for k, v in facet.values.items()
                ]
                response = {"totalFacets": str(len(items)), "facets": items}
                return {"response": response, "request": _echo(request), "apiVersion": API_VERSION}
        raise EiaError("Not found.", 404)

    return run


def node(children: list[str], name: str) -> Any:
    def run(request: Request, sandbox: Sandbox) -> dict[str, Any]:
        routes = [
            {"id": c, "name": c.replace("-", " ").title(), "description": c} for c in children
        ]
        response = {"id": name or "root", "name": name or "EIA Data Sets", "routes": routes}
        return {"response": response, "request": _echo(request), "apiVersion": API_VERSION}

    return run


async def _not_found(request: Request, sandbox: Sandbox) -> Response:
    return error(404, "Not found.")


def routes(catalog_routes: list[EiaRoute]) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    tree: dict[str, list[str]] = {}
    for r in catalog_routes:
        parts = r.route.split("/")
        for i in range(len(parts)):
            children = tree.setdefault("/".join(parts[:i]), [])
            if parts[i] not in children:
                children.append(parts[i])
        base = f"/eia/v2/{r.route}"
        out.append(Route(base, endpoint(PROFILE, f"{r.route}", _keyed(metadata(r)))))
        for path in (f"{base}/data", f"{base}/data/"):
            out.append(Route(path, endpoint(PROFILE, f"{r.route}/data", _keyed(data(r)))))
        out.append(
            Route(
                f"{base}/facet/{{facet_id}}",
                endpoint(PROFILE, f"{r.route}/facet", _keyed(facet_values(r))),
            )
        )
    leaves = {r.route for r in catalog_routes}
    for name, children in tree.items():
        if name in leaves:
            continue
        handler = endpoint(PROFILE, name or "/", _keyed(node(children, name)))
        for path in {f"/eia/v2/{name}".rstrip("/"), f"/eia/v2/{name}/".replace("//", "/")}:
            out.append(Route(path, handler))
    out.append(Route("/eia/v2/{path:path}", endpoint(PROFILE, "unknown", _not_found)))
    return out
