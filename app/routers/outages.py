"""`/v1/admin/external/outages`: declare a provider outage (the runbook's mitigation as one
change), list and read them (with the timeline, or the post-incident report for
`Accept: text/markdown`), resolve them. Viewer reads, operator writes, audited."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from app.auth.dependencies import AuditDep
from app.db.models import OutageStatus
from app.db.session import SessionDep
from app.http.cursors import decode_cursor, encode_cursor, invalid_cursor
from app.http.openapi import error_responses
from app.jobs.outage_operations import outage_deps
from app.outages import service
from app.outages.context import Outcome
from app.outages.report import render_report
from app.outages.timeline import build_timeline
from app.outages.views import DeclareCommand, ResolveCommand
from app.resources import Resources

router = APIRouter(prefix="/v1/admin/external/outages", tags=["external: outages"])

MARKDOWN = "text/markdown; charset=utf-8"


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def _committed(request: Request, session: SessionDep, outcome: Outcome) -> dict[str, Any]:
    """Commit (taking back the Redis side if that fails), publish the flags, and let this
    replica's health show the change at once."""
    resources = _resources(request)
    await service.commit(session, outcome, resources.flags)
    if resources.outages is not None:
        with contextlib.suppress(Exception):  # its own loop catches up within a second
            await resources.outages.refresh()
    return await service.view(session, outcome.outage)


def _before(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        declared, outage_id = position
        return datetime.fromisoformat(declared), uuid.UUID(outage_id)
    except (TypeError, ValueError):
        raise invalid_cursor() from None


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(404, 409, 503))
async def declare_outage(
    body: DeclareCommand, request: Request, session: SessionDep, audit: AuditDep
) -> dict[str, Any]:
    """Pause the provider's ingest and probe jobs, force its breaker open for `ttl_seconds`,
    turn on `external_read_cache` and, with `actions.fallback`, its `provider_fallback`: all
    or nothing. One open outage per provider."""
    outcome = await service.declare(
        session=session, audit=audit, deps=outage_deps(_resources(request)),
        provider=body.provider, reason=body.reason, ttl_seconds=body.ttl_seconds,
        actions=body.actions,
    )  # fmt: skip
    return await _committed(request, session, outcome)


@router.get("")
async def list_outages(
    session: SessionDep,
    status_: OutageStatus | None = Query(default=None, alias="status"),
    provider: str | None = Query(default=None, description="fred, eia, noaa or worldbank"),
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, description="next_cursor of the previous page"),
) -> dict[str, Any]:
    """Newest first."""
    outages = await service.list_outages(
        session, status=status_.value if status_ else None, provider=provider,
        before=_before(cursor), limit=limit,
    )  # fmt: skip
    last = outages[-1] if len(outages) == limit else None
    next_cursor = (
        encode_cursor([last.declared_at.isoformat(), str(last.id)])
        if last is not None and last.declared_at is not None
        else None
    )
    return {
        "outages": [await service.view(session, outage) for outage in outages],
        "limit": limit,
        "next_cursor": next_cursor,
    }


@router.get(
    "/{outage_id}",
    response_class=JSONResponse,
    responses={200: {"content": {"text/markdown": {}}, "description": "The outage, or its report"}},
)
async def get_outage(outage_id: uuid.UUID, request: Request, session: SessionDep) -> Response:
    """The outage with its timeline; with `Accept: text/markdown`, the post-incident report."""
    outage = await service.get(session, outage_id)
    view = await service.view(session, outage)
    timeline = await build_timeline(session, outage)
    if "text/markdown" in request.headers.get("accept", ""):
        return Response(render_report(view, timeline), media_type=MARKDOWN)
    return JSONResponse(jsonable_encoder(view | {"timeline": timeline}))


@router.post("/{outage_id}/resolve", responses=error_responses(404, 409, 503))
async def resolve_outage(
    outage_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    body: ResolveCommand | None = None,
) -> dict[str, Any]:
    """Probe the provider (409 with its error while it fails, unless `force`), undo what the
    declaration applied and nobody changed since, and queue the backfill of the outage
    window plus the provider's revision window."""
    body = body or ResolveCommand()
    outcome = await service.resolve(
        session=session, audit=audit, deps=outage_deps(_resources(request)),
        outage_id=outage_id, reason=body.reason, backfill=body.backfill, force=body.force,
    )  # fmt: skip
    return await _committed(request, session, outcome)
