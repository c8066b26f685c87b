"""Open probes: `/health` (alive, no I/O) and `/ready` (dependencies answer)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from app.errors import Unauthorized
from app.http.errors import error_body
from app.jobs.status import leader_status
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
    scheduler = jsonable_encoder(await leader_status(resources))
    return JSONResponse(
        {
            "status": "ready",
            "replica": resources.settings.replica_id,
            "checks": checks,
            "scheduler": scheduler,
        }
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Open unless AURUM_METRICS_BEARER_TOKEN is set; then scrapers send that token."""
    token = request.app.state.resources.settings.metrics_bearer_token
    if token is not None:
        offered = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(offered.encode(), token.get_secret_value().encode()):
            raise Unauthorized(
                "/metrics needs 'Authorization: Bearer <AURUM_METRICS_BEARER_TOKEN>'.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
