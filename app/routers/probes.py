"""Open probes: `/health` (alive, no I/O) and `/ready` (this replica serves; dependencies
reported, see app/monitoring/readiness.py)."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from app.errors import Unauthorized
from app.http.errors import error_body
from app.jobs.status import leader_status
from app.monitoring.metrics import render_metrics
from app.monitoring.readiness import Phase, ReplicaState, check_dependencies, overall

router = APIRouter(tags=["probes"])


@router.get("/health", summary="Liveness: the process is up (no I/O)")
async def health(request: Request) -> dict[str, Any]:
    settings = request.app.state.resources.settings
    return {"status": "ok", "version": request.app.version, "replica": settings.replica_id}


@router.get(
    "/ready",
    summary="Readiness: this replica serves; each dependency's state is reported",
    responses={503: {"description": "This replica is starting or draining (SIGTERM received)"}},
)
async def ready(request: Request) -> JSONResponse:
    """200 while this replica serves, `status` `ready` or `degraded` (a dependency down is
    reported in `checks`, never a reason to leave the Service); 503 only while it starts or
    drains."""
    state: ReplicaState | None = getattr(request.app.state, "replica", None)
    resources = getattr(request.app.state, "resources", None)
    if state is None or resources is None or not state.ready:
        phase = state.phase if state is not None else Phase.STARTING
        body = error_body(
            503,
            f"Not ready: this replica is {phase.value}; retry on another replica.",
            code="not_ready",
            details={"phase": phase.value},
        )
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
    timeout = resources.settings.ready_check_timeout_seconds

    async def scheduler() -> dict[str, Any]:
        try:
            status = await state.checks.run("leader", lambda: leader_status(resources), timeout)
        except TimeoutError as exc:
            return {"error": f"the leader's row in PostgreSQL: {exc}"}
        return dict(jsonable_encoder(status))

    results, leader = await asyncio.gather(check_dependencies(resources, state.checks), scheduler())
    return JSONResponse(
        {
            "status": overall(results),
            "phase": state.phase.value,
            "replica": resources.settings.replica_id,
            "checks": {result.name: result.as_dict() for result in results},
            "scheduler": leader,
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
