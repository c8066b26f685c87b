"""Open probes: `/health` (alive, no I/O) and `/ready` (dependencies answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.http.errors import error_body
from app.monitoring.metrics import render_metrics
from app.monitoring.readiness import check_dependencies

router = APIRouter(tags=["probes"])


@router.get("/health", summary="Liveness: the process is up (no I/O)")
async def health(request: Request) -> dict[str, Any]:
    settings = request.app.state.resources.settings
    return {"status": "ok", "version": request.app.version, "replica": settings.replica_id}


@router.get(
    "/ready",
    summary="Readiness: PostgreSQL, Redis and Kafka (when configured) answer",
    responses={503: {"description": "A dependency is down; the body names it"}},
)
async def ready(request: Request) -> JSONResponse:
    resources = request.app.state.resources
    results = await check_dependencies(resources)
    checks = {result.name: result.as_dict() for result in results}
    down = [result for result in results if result.status == "down"]
    if down:
        reasons = ", ".join(f"{r.name} is down ({r.error})" for r in down)
        body = error_body(
            503, f"Not ready: {reasons}.", code="not_ready", details={"checks": checks}
        )
        return JSONResponse(body, status_code=503)
    return JSONResponse(
        {"status": "ready", "replica": resources.settings.replica_id, "checks": checks}
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    body, content_type = render_metrics(request.app)
    return Response(body, media_type=content_type)
