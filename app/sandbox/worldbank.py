"""World Bank Indicators v2 under /worldbank/v2/: country-by-indicator data as `[header, rows]`
(newest first, `null` values, `rows` null when empty), sources with `lastupdated`, indicator
metadata, and errors as a message envelope sent with HTTP 200. No key, like the real API."""

from __future__ import annotations

import math
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.sandbox.catalog import WB_COUNTRIES, WbIndicator
from app.sandbox.runtime import Handler, ProviderProfile, Sandbox, endpoint, with_retry_after
from app.sandbox.series import Frequency, worldbank_period

BASE = "/worldbank/v2"
LABEL = {
    Frequency.ANNUAL: re.compile(r"^\d{4}$"),
    Frequency.QUARTERLY: re.compile(r"^\d{4}(Q[1-4])?$"),
    Frequency.MONTHLY: re.compile(r"^\d{4}(M(0[1-9]|1[0-2]))?$"),
}
MESSAGES = {
    "105": ("Service currently unavailable", "The requested service is temporarily unavailable."),
    "120": ("Invalid value", "The provided parameter value is not valid"),
    "175": ("Invalid format", "The indicator was not found. It may have been deleted or archived."),
    "199": ("Unexpected error", "An unexpected error was found while processing the request."),
}
ISO2 = {iso2: iso3 for iso3, (iso2, _) in WB_COUNTRIES.items()}


class WbError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def envelope(code: str, status: int = 200) -> Response:
    key, value = MESSAGES[code]
    return JSONResponse(
        [{"message": [{"id": code, "key": key, "value": value}]}], status_code=status
    )


def error(status: int, message: str) -> Response:
    return envelope("105" if status in (502, 503, 504) else "199", status)


def _throttle(status: int, retry_after: int | None) -> Response:
    return with_retry_after(envelope("105", status), retry_after)


PROFILE = ProviderProfile("worldbank", "/worldbank/v2/", error, lambda: envelope("120"), _throttle)


def _formatted(handler: Any) -> Handler:
    async def run(request: Request, sandbox: Sandbox) -> Response:
        try:
            body = await run_in_threadpool(handler, request, sandbox)
        except WbError as exc:
            return envelope(exc.code)
        if request.query_params.get("format", "").lower() != "json":
            header = body[0] if isinstance(body, list) and body else {}
            attrs = " ".join(
                f'{k}="{header[k]}"' for k in ("page", "pages", "per_page", "total") if k in header
            )
            xml = (
                '<?xml version="1.0" encoding="utf-8"?>\n'
                f'<wb:data xmlns:wb="http://www.worldbank.org" {attrs} />\n'
            )
            return Response(xml, media_type="application/xml; charset=utf-8")
        return JSONResponse(body)

    return run


def _positive(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise WbError("120")
    return int(raw)


def _indicator(sandbox: Sandbox, indicator_id: str) -> WbIndicator:
    for ind in sandbox.data.catalog.worldbank:
        if ind.id.lower() == indicator_id.lower():
            return ind
    raise WbError("175")


def _countries(codes: str, ind: WbIndicator) -> list[str]:
    if codes.lower() == "all":
        return list(ind.countries)
    out: list[str] = []
    for code in codes.upper().split(";"):
        iso3 = ISO2.get(code, code)
        if iso3 not in WB_COUNTRIES:
            raise WbError("120")
        if iso3 in ind.countries and iso3 not in out:
            out.append(iso3)
    return out


def _date_filter(raw: str | None, freq: Frequency) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    lo, _, hi = raw.partition(":")
    hi = hi or lo
    pattern = LABEL[freq]
    if not pattern.match(lo) or not pattern.match(hi):
        raise WbError("120")
    return lo, hi


def _source_updated(sandbox: Sandbox, source_id: str) -> str:
    stamps = [
        sandbox.data.last_updated("worldbank", f"{ind.id}:{iso3}")
        for ind in sandbox.data.catalog.worldbank
        if ind.source_id == source_id
        for iso3 in ind.countries
    ]
    return max(stamps).date().isoformat() if stamps else "2024-01-01"


def data(request: Request, sandbox: Sandbox) -> list[Any]:
    ind = _indicator(sandbox, request.path_params["indicator"])
    countries = _countries(request.path_params["codes"], ind)
    lo, hi = _date_filter(request.query_params.get("date"), ind.frequency)
    page = _positive(request, "page", 1)
    per_page = _positive(request, "per_page", 50)
    mrv = _positive(request, "mrv", 0) if "mrv" in request.query_params else None
    rows: list[dict[str, Any]] = []
    for iso3 in countries:
        iso2, name = WB_COUNTRIES[iso3]
        view = sandbox.data.view("worldbank", f"{ind.id}:{iso3}")
        decimals = view.spec.shape.decimals
        country_rows = []
        for d, v in zip(reversed(view.dates), reversed(view.values), strict=True):
            label = worldbank_period(ind.frequency, d)
            if lo is not None and label[: len(lo)] < lo:
                continue
            if hi is not None and label[: len(hi)] > hi:
                continue
            value: float | int | None = v if v is None or decimals else int(v)
            country_rows.append(
                {
                    "indicator": {"id": ind.id, "value": ind.name},
                    "country": {"id": iso2, "value": name},
                    "countryiso3code": iso3,
                    "date": label,
                    "value": value,
                    "unit": "",
                    "obs_status": "",
                    "decimal": min(decimals, 1),
                }
            )
        rows.extend(country_rows[:mrv] if mrv else country_rows)
    total = len(rows)
    header = {
        "page": page,
        "pages": math.ceil(total / per_page),
        "per_page": per_page,
        "total": total,
        "sourceid": ind.source_id,
        "lastupdated": _source_updated(sandbox, ind.source_id),
    }
    chunk = rows[(page - 1) * per_page : page * per_page]
    return [header, chunk if total else None]


def _source_item(sandbox: Sandbox, source_id: str) -> dict[str, Any]:
    for src in sandbox.data.catalog.wb_sources:
        if src.id == source_id:
            return {
                "id": src.id,
                "lastupdated": _source_updated(sandbox, src.id),
                "name": src.name,
                "code": src.code,
                "description": "",
                "url": "",
                "dataavailability": "Y",
                "metadataavailability": "Y",
                "concepts": "3",
            }
    raise WbError("120")


def _list(items: list[dict[str, Any]]) -> list[Any]:
    header = {"page": 1, "pages": 1, "per_page": "50", "total": str(len(items))}
    return [header, items]


def sources(request: Request, sandbox: Sandbox) -> list[Any]:
    return _list([_source_item(sandbox, s.id) for s in sandbox.data.catalog.wb_sources])


def source(request: Request, sandbox: Sandbox) -> list[Any]:
    return _list([_source_item(sandbox, request.path_params["source_id"])])


def indicator(request: Request, sandbox: Sandbox) -> list[Any]:
    ind = _indicator(sandbox, request.path_params["indicator"])
    src = _source_item(sandbox, ind.source_id)
    return _list(
        [
            {
                "id": ind.id,
                "name": ind.name,
                "unit": "",
                "source": {"id": ind.source_id, "value": src["name"]},
                "sourceNote": "Sandbox data.",
                "sourceOrganization": "Aurum sandbox",
                "topics": [],
            }
        ]
    )


async def _not_found(request: Request, sandbox: Sandbox) -> Response:
    return envelope("120")


def routes() -> list[BaseRoute]:
    def add(path: str, name: str, fn: Any) -> Route:
        return Route(f"{BASE}/{path}", endpoint(PROFILE, name, _formatted(fn)))

    return [
        add("country/{codes}/indicator/{indicator}", "country/{codes}/indicator/{id}", data),
        add("source", "source", sources),
        add("source/{source_id}", "source/{id}", source),
        add("indicator/{indicator}", "indicator/{id}", indicator),
        Route(BASE + "/{path:path}", endpoint(PROFILE, "unknown", _not_found)),
    ]
