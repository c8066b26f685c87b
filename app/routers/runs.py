"""`/v1/admin/external/runs` (history, one run, cancel) and `/v1/admin/external/backfill`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import AuditDep
from app.db.models import RunStatus
from app.db.repositories import runs as run_repo
from app.db.session import SessionDep
from app.http.cursors import decode_cursor, encode_cursor, invalid_cursor
from app.http.openapi import error_responses
from app.http.windows import check_window
from app.jobs import backfill, control
from app.routers.jobs import scheduler_of

router = APIRouter(prefix="/v1/admin/external", tags=["external: jobs"])


class CancelCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1024)


def _before(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        created, run_id = position
        return datetime.fromisoformat(created), uuid.UUID(run_id)
    except (TypeError, ValueError):
        raise invalid_cursor() from None


@router.get("/runs")
async def list_runs(
    session: SessionDep,
    job: str | None = Query(default=None, description="e.g. ingest.fred"),
    provider: str | None = Query(default=None, description="fred, eia, noaa or worldbank"),
    status_: RunStatus | None = Query(default=None, alias="status"),
    trigger: str | None = Query(default=None, description="scheduled, manual or backfill"),
    since: datetime | None = Query(default=None, description="ISO 8601, inclusive"),
    until: datetime | None = Query(default=None, description="ISO 8601, exclusive"),
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, description="next_cursor of the previous page"),
) -> dict[str, Any]:
    check_window(since, until)
    filters = run_repo.RunFilter(
        job_id=job, provider=provider, status=status_.value if status_ else None,
        trigger=trigger, since=since, until=until,
    )  # fmt: skip
    before = _before(cursor)
    runs = await run_repo.page(session, filters, before=before, limit=limit)
    last = runs[-1] if len(runs) == limit else None
    next_cursor = (
        encode_cursor([last.created_at.isoformat(), str(last.id)])
        if last and last.created_at
        else None
    )
    return {"items": [control.run_view(run) for run in runs], "next_cursor": next_cursor}


@router.get("/runs/{run_id}")
async def get_run(run_id: uuid.UUID, session: SessionDep) -> dict[str, Any]:
    return control.run_view(await control.get_run(session, run_id))


@router.post(
    "/runs/{run_id}/cancel", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(409)
)
async def cancel_run(
    run_id: uuid.UUID, session: SessionDep, audit: AuditDep, command: CancelCommand | None = None
) -> dict[str, Any]:
    reason = (command or CancelCommand()).reason
    return control.run_view(await control.cancel_run(session, audit, run_id, reason=reason))


@router.post(
    "/backfill",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "dry_run: the estimate only, nothing queued"},
        **error_responses(409),
    },
)
async def start_backfill(
    body: backfill.BackfillRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    audit: AuditDep,
) -> dict[str, Any]:
    """Estimates the requests first; refuses (409 with the numbers) when they would exhaust a
    provider's quota or budget, unless `force`. `dry_run` only estimates: 200, nothing queued
    (202 means runs were queued)."""
    resources = request.app.state.resources
    config = resources.providers.config
    chosen = backfill.validate(body, config, resources.settings.backfill_max_days)
    estimates = await backfill.estimate(
        session, resources.providers.guards, config, chosen, body.start, body.end
    )
    if body.dry_run:
        response.status_code = status.HTTP_200_OK
        return {"dry_run": True, "estimate": estimates, "runs": []}
    backfill.refuse_if_over(estimates, body.force)
    runs = await backfill.queue_runs(
        session, audit, scheduler_of(request), chosen=chosen, estimates=estimates,
        start=body.start, end=body.end, force=body.force, reason=body.reason,
    )  # fmt: skip
    return {"dry_run": False, "estimate": estimates, "runs": runs}
