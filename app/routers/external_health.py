"""`/v1/admin/external/health` (and `/health/{provider}`), `/v1/admin/external/sla`, with the
runbooks' aliases `/health/external` and `/sla/external`. Viewer reads; nothing here calls a
provider: see app/health/service.py."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.db.repositories import health_reads
from app.errors import NotFound
from app.health import service
from app.health import sla as sla_view
from app.health.dependencies import DependencyCache
from app.resources import Resources

router = APIRouter(prefix="/v1/admin/external/health", tags=["external: health"])
sla_router = APIRouter(prefix="/v1/admin/external/sla", tags=["external: health"])
health_alias = APIRouter(prefix="/health/external", tags=["external: health"])
sla_alias = APIRouter(prefix="/sla/external", tags=["external: health"])


class Window(StrEnum):
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def _cache(request: Request) -> DependencyCache:
    cache: DependencyCache = request.app.state.health_dependencies  # built in the lifespan
    return cache


async def _overview(request: Request) -> dict[str, Any]:
    return await service.health(_resources(request), _cache(request))


async def _one(request: Request, provider: str) -> dict[str, Any]:
    resources = _resources(request)
    known = sorted(resources.providers.config.providers)
    if provider not in known:
        raise NotFound(f"No provider named {provider!r}; known providers: {', '.join(known)}.")
    body = await service.health(resources, _cache(request), only=provider)
    view = body["providers"][provider]
    guard = resources.providers.guards[provider]
    async with resources.sessionmaker() as session:
        runs = await health_reads.recent_runs(session, f"ingest.{provider}", limit=10)
    view["breaker_events"] = await guard.breaker.events(10)
    view["recent_runs"] = [service.run_view(run) for run in runs]
    return {"provider": provider, **view, "dependencies": body["dependencies"]}


async def _sla(request: Request, window: Window) -> dict[str, Any]:
    return await sla_view.sla(_resources(request), window.value)


# The bodies are plain JSON types already: a JSONResponse skips FastAPI's jsonable_encoder
# walk, which cost more than the whole health computation.


# The runbooks' quick-start aliases (`/health/external`, `/sla/external`) are the same
# handlers registered on a second router each.
@health_alias.get("", response_class=JSONResponse)
@router.get("", response_class=JSONResponse)
async def external_health(request: Request) -> JSONResponse:
    return JSONResponse(await _overview(request))


@health_alias.get("/{provider}", response_class=JSONResponse)
@router.get("/{provider}", response_class=JSONResponse)
async def provider_health(request: Request, provider: str) -> JSONResponse:
    return JSONResponse(await _one(request, provider))


@sla_alias.get("", response_class=JSONResponse)
@sla_router.get("", response_class=JSONResponse)
async def external_sla(
    request: Request, window: Window = Query(default=Window.DAY)
) -> JSONResponse:
    return JSONResponse(await _sla(request, window))
