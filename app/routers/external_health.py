"""`/v1/admin/external/health` (and `/health/{provider}`), `/v1/admin/external/sla`, with the
runbooks' aliases `/health/external` and `/sla/external`. Viewer reads; nothing here calls a
provider: see app/health/service.py."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from app.db.repositories import health_reads
from app.errors import NotFound
from app.health import service
from app.health import sla as sla_view
from app.health.dependencies import DependencyCache
from app.health.view_cache import ViewCache
from app.resilience import call_log
from app.resources import Resources

router = APIRouter(prefix="/v1/admin/external/health", tags=["external: health"])
sla_router = APIRouter(prefix="/v1/admin/external/sla", tags=["external: health"])
health_alias = APIRouter(prefix="/health/external", tags=["external: health"])
sla_alias = APIRouter(prefix="/sla/external", tags=["external: health"])


# The overview's key in the view cache (also answered before routing: app/health/fast_path.py).
OVERVIEW_KEY = ("health", "")


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


def _views(request: Request) -> ViewCache:
    views: ViewCache = request.app.state.health_views  # built in the lifespan
    return views


def _encode(body: dict[str, Any]) -> bytes:
    return JSONResponse(body).render(body)


async def _overview(request: Request) -> dict[str, Any]:
    return await service.health(_resources(request), _cache(request))


async def _one(request: Request, provider: str) -> dict[str, Any]:
    resources = _resources(request)
    guard = resources.providers.guards[provider]

    async def recent_runs() -> list[Any]:
        async with resources.reads.session() as session:
            return await health_reads.recent_runs(session, f"ingest.{provider}", limit=10)

    # Concurrently: a stalled Redis costs the request one deadline, not one per read.
    body, runs, events, hourly = await asyncio.gather(
        service.health(resources, _cache(request), only=provider),
        recent_runs(),
        guard.breaker.events(10),
        call_log.hourly_counts(resources.redis, provider),
    )
    view = body["providers"][provider]
    view["breaker_events"] = events
    # The guarded client's hourly counters, last 24 hours (the dashboard charts them).
    view["hourly_calls"] = hourly
    view["recent_runs"] = [service.run_view(run) for run in runs]
    return {"provider": provider, **view, "dependencies": body["dependencies"]}


async def _sla(request: Request, window: Window) -> dict[str, Any]:
    return await sla_view.sla(_resources(request), window.value)


def _check_provider(request: Request, provider: str) -> None:
    known = sorted(_resources(request).providers.config.providers)
    if provider not in known:
        raise NotFound(f"No provider named {provider!r}; known providers: {', '.join(known)}.")


async def _cached(request: Request, key: tuple[str, str], view: Any, *args: Any) -> Response:
    """The view's JSON, computed at most once per AURUM_HEALTH_CACHE_SECONDS on this replica
    (app/health/view_cache.py). The bodies are plain JSON types already: encoding them
    directly skips FastAPI's jsonable_encoder walk, which cost more than the computation."""

    async def compute() -> bytes:
        return _encode(await view(request, *args))

    body = await _views(request).get(key, compute)
    return Response(body, media_type="application/json")


# The runbooks' quick-start aliases (`/health/external`, `/sla/external`) are the same
# handlers registered on a second router each.
@health_alias.get("", response_class=JSONResponse)
@router.get("", response_class=JSONResponse)
async def external_health(request: Request) -> Response:
    return await _cached(request, OVERVIEW_KEY, _overview)


@health_alias.get("/{provider}", response_class=JSONResponse)
@router.get("/{provider}", response_class=JSONResponse)
async def provider_health(request: Request, provider: str) -> Response:
    _check_provider(request, provider)
    return await _cached(request, ("health", provider), _one, provider)


@sla_alias.get("", response_class=JSONResponse)
@sla_router.get("", response_class=JSONResponse)
async def external_sla(request: Request, window: Window = Query(default=Window.DAY)) -> Response:
    return await _cached(request, ("sla", window.value), _sla, window)
