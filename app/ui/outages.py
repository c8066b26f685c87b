"""Outages: the list, declare and resolve (the API routes' handlers: the same mitigation,
audit and backfill), and one outage with its timeline and post-incident report."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.errors import AurumError
from app.outages import service
from app.outages.report import render_report
from app.outages.timeline import build_timeline
from app.outages.views import DEFAULT_TTL_SECONDS, DeclareCommand, ResolveCommand
from app.routers import outages as outages_api
from app.ui.web import (
    Viewer,
    audit_of,
    back,
    failure_message,
    operator_form,
    page,
    reason_of,
    resources,
    unit_of_work,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/outages", response_class=HTMLResponse)
async def outages_page(request: Request, session: Viewer) -> Response:
    async with unit_of_work(request) as db:
        listing = await outages_api.list_outages(
            db, status_=None, provider=None, limit=50, cursor=None
        )
    providers = sorted(resources(request).providers.config.providers)
    return page(
        request,
        "outages.html",
        session,
        {
            "outages": listing["outages"],
            "providers": providers,
            "default_ttl_minutes": DEFAULT_TTL_SECONDS // 60,
        },
    )


@router.post("/outages")
async def declare(request: Request) -> Response:
    session, form = await operator_form(request)
    try:
        minutes = int(form.get("ttl_minutes") or DEFAULT_TTL_SECONDS // 60)
        body = DeclareCommand(
            provider=form.get("provider", ""),
            reason=reason_of(form) or "",
            ttl_seconds=minutes * 60,
        )
    except (ValidationError, ValueError) as exc:
        return back(request, "/ui/outages", f"Not declared: {_first_error(exc)}")
    try:
        async with unit_of_work(request) as db:
            view = await outages_api.declare_outage(
                body, request, db, audit_of(request, session, form)
            )
    except AurumError as exc:
        return back(request, "/ui/outages", f"Not declared: {failure_message(exc)}")
    return back(request, f"/ui/outages/{view['id']}", f"Outage of {body.provider} declared.")


@router.post("/outages/{outage_id}/resolve")
async def resolve(request: Request, outage_id: uuid.UUID) -> Response:
    session, form = await operator_form(request)
    body = ResolveCommand(reason=reason_of(form), force=form.get("force") == "on")
    to = f"/ui/outages/{outage_id}"
    try:
        async with unit_of_work(request) as db:
            await outages_api.resolve_outage(
                outage_id, request, db, audit_of(request, session, form), body
            )
    except AurumError as exc:
        return back(request, to, f"Not resolved: {failure_message(exc)}")
    return back(request, to, "Outage resolved; the backfill of its window is queued.")


@router.get("/outages/{outage_id}", response_class=HTMLResponse)
async def outage_page(request: Request, outage_id: uuid.UUID, session: Viewer) -> Response:
    async with unit_of_work(request) as db:
        outage = await service.get(db, outage_id)
        view = await service.view(db, outage)
        timeline = await build_timeline(db, outage)
    report = render_report(view, timeline)
    return page(
        request,
        "outage.html",
        session,
        {"outage": view, "timeline": timeline, "report": report},
    )


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        return f"{field}: {error['msg']}"
    return "TTL must be a whole number of minutes"
