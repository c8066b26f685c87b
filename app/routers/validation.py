"""`/v1/admin/external/validation/{provider}`: the last validation result and history (viewer),
and `POST .../run` to validate now (operator, audited; runs in the background, 202)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse

from app.audit.service import record
from app.auth.dependencies import AuditDep
from app.db.models import ValidationResult
from app.db.repositories import validation_results
from app.db.session import SessionDep
from app.quality import service
from app.quality.scoring import has_error_failures
from app.resources import Resources

router = APIRouter(prefix="/v1/admin/external/validation", tags=["external: validation"])


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


def _view(result: ValidationResult) -> dict[str, Any]:
    return {
        "id": str(result.id),
        "provider": result.provider,
        "suite": result.suite,
        "status": result.status,
        "trigger": result.trigger,
        "scope": result.scope,
        "run_id": str(result.run_id) if result.run_id else None,
        "success": result.success,
        "evaluated": result.evaluated,
        "successful": result.successful,
        "unsuccessful": result.unsuccessful,
        "success_percent": result.success_percent,
        "quality_score": result.quality_score,
        "has_error_failures": has_error_failures(result.failed_expectations),
        "row_count": result.row_count,
        "error": result.error,
        "failed_expectations": result.failed_expectations,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
    }


@router.get("/{provider}")
async def get_validation(
    provider: str,
    request: Request,
    session: SessionDep,
    limit: int = Query(default=20, ge=1, le=100, description="history entries"),
    before: datetime | None = Query(default=None, description="history older than this"),
) -> dict[str, Any]:
    """The latest completed run (with its failed expectations), the one running if any, and
    the history, newest first (`next_before` pages on)."""
    resources = _resources(request)
    suite = service.provider_suite(service.suites_of(resources), provider)
    tenant = resources.settings.tenant_id
    latest = await validation_results.latest_finished(session, tenant_id=tenant, provider=provider)
    runs = await validation_results.history(
        session, tenant_id=tenant, provider=provider, limit=limit + 1, before=before
    )
    page, more = runs[:limit], len(runs) > limit
    running = next((r for r in runs if r.status == validation_results.RUNNING), None)
    return {
        "provider": provider,
        "suite": suite.name,
        "expectations": len(suite.expectations),
        "latest": _view(latest) if latest else None,
        "running": _view(running) if running else None,
        "history": [_summary(r) for r in page],
        "next_before": page[-1].started_at if more and page else None,
    }


def _summary(result: ValidationResult) -> dict[str, Any]:
    view = _view(result)
    view["failed_expectations"] = [item.get("id") for item in result.failed_expectations]
    return view


@router.post("/{provider}/run", status_code=202)
async def run_validation(
    provider: str,
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    background: BackgroundTasks,
) -> JSONResponse:
    """Start a validation run; 409 with the running one's id while one is going."""
    resources = _resources(request)
    result_id: uuid.UUID = await service.claim(session, resources, provider, trigger="manual")
    await record(
        session,
        audit,
        action="validation.run",
        target=f"provider:{provider}",
        after={"result_id": str(result_id)},
    )
    # Background tasks start after the response, so after the unit of work committed the claim.
    background.add_task(service.execute, resources, provider, result_id)
    location = f"/v1/admin/external/validation/{provider}"
    return JSONResponse(
        status_code=202,
        content={"id": str(result_id), "provider": provider, "status": "running", "poll": location},
        headers={"Location": location},
        background=background,
    )
