"""The control API under /_sandbox/: faults, request counts, data version, truth.

GET    /_sandbox/                      version, base paths, whether limits are enforced
GET    /_sandbox/catalog               series keys per provider
POST   /_sandbox/faults                {"kind", "provider"?, "path"?, "status"?, "delay_seconds"?,
                                        "retry_after"?, "count"?, "probability"?} -> 201
GET    /_sandbox/faults                the rules and how often each fired
DELETE /_sandbox/faults                remove every rule
GET    /_sandbox/stats                 {"total", "by_provider", "by_endpoint"}
DELETE /_sandbox/stats                 reset the counts
POST   /_sandbox/advance               {"series": ["fred:GDP", ...] | {"fred": ["GDP"]}}?
POST   /_sandbox/generate              {"series": [...]} (as advance): make up those series' data
                                       now, not at their first request (benchmarks)
GET    /_sandbox/truth/{provider}/{key} every published value of one series now
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.sandbox.faults import PROVIDERS, InvalidFault
from app.sandbox.runtime import sandbox_of
from app.sandbox.store import UnknownSeries

BASE_PATHS = {
    "fred": "/fred/",
    "eia": "/eia/v2/",
    "noaa": "/noaa/cdo-web/api/v2/",
    "worldbank": "/worldbank/v2/",
}


def _bad(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    return json.loads(raw)


async def info(request: Request) -> Response:
    sandbox = sandbox_of(request)
    return JSONResponse(
        {
            "sandbox": True,
            "version": sandbox.data.version,
            "enforce_limits": sandbox.enforce_limits,
            "base_paths": BASE_PATHS,
            "credentials": "any non-empty api_key / token is accepted, e.g. 'sandbox'",
        }
    )


async def catalog(request: Request) -> Response:
    data = sandbox_of(request).data
    return JSONResponse({p: data.keys(p) for p in PROVIDERS})


async def faults(request: Request) -> Response:
    injector = sandbox_of(request).faults
    if request.method == "DELETE":
        return JSONResponse({"cleared": injector.clear()})
    if request.method == "GET":
        return JSONResponse({"faults": injector.rules()})
    try:
        rule = injector.add(await _json(request))
    except (InvalidFault, ValueError) as exc:
        return _bad(str(exc))
    return JSONResponse({"fault": rule.as_dict()}, status_code=201)


async def stats(request: Request) -> Response:
    counter = sandbox_of(request).stats
    if request.method == "DELETE":
        counter.reset()
        return JSONResponse({"reset": True})
    return JSONResponse(counter.snapshot())


def _selection(body: Any) -> dict[str, list[str]] | None:
    """`{"series": {"fred": ["DGS10"]}}` or `{"series": ["fred:DGS10", ...]}`; none: default."""
    if body is None or body.get("series") is None:
        return None
    chosen = body["series"]
    if isinstance(chosen, dict):
        return {str(p): [str(k) for k in keys] for p, keys in chosen.items()}
    out: dict[str, list[str]] = {}
    for item in chosen:
        provider, _, key = str(item).partition(":")
        out.setdefault(provider, []).append(key)
    return out


async def advance(request: Request) -> Response:
    data = sandbox_of(request).data
    try:
        body = await _json(request)
        if body is not None and not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        selection = _selection(body)
    except (ValueError, TypeError, AttributeError) as exc:
        return _bad(str(exc))
    try:
        result = await run_in_threadpool(data.advance, selection)
    except UnknownSeries as exc:
        return _bad(f"unknown series {exc.args[0]}", 404)
    return JSONResponse(result)


async def generate(request: Request) -> Response:
    """Make up the chosen series' data now, so a benchmark times serving it, not inventing it."""
    data = sandbox_of(request).data
    try:
        body = await _json(request)
        if not isinstance(body, dict) or body.get("series") is None:
            raise ValueError('body must be {"series": [...]}')
        selection = _selection(body) or {}
    except (ValueError, TypeError, AttributeError) as exc:
        return _bad(str(exc))

    def make() -> int:
        return sum(len(data.view(p, key).dates) for p, keys in selection.items() for key in keys)

    try:
        observations = await run_in_threadpool(make)
    except UnknownSeries as exc:
        return _bad(f"unknown series {exc.args[0]}", 404)
    series = sum(len(keys) for keys in selection.values())
    return JSONResponse({"series": series, "observations": observations})


async def truth(request: Request) -> Response:
    data = sandbox_of(request).data
    provider, key = request.path_params["provider"], request.path_params["series_id"]
    if not data.has(provider, key):
        return _bad(f"unknown series {provider}:{key}", 404)
    return JSONResponse(await run_in_threadpool(data.truth, provider, key))


def routes() -> list[BaseRoute]:
    return [
        Route("/_sandbox/", info),
        Route("/_sandbox/catalog", catalog),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/stats", stats, methods=["GET", "DELETE"]),
        Route("/_sandbox/advance", advance, methods=["POST"]),
        Route("/_sandbox/generate", generate, methods=["POST"]),
        Route("/_sandbox/truth/{provider}/{series_id:path}", truth),
    ]
