"""Backfill: a form whose dry run shows the request estimate against the quota and budget
left, then queues it; both through the API route's handler (`POST .../backfill`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.errors import AurumError
from app.jobs.backfill import BackfillProvider, BackfillRequest
from app.routers import runs as runs_api
from app.ui.session import UiSession
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


def _choices(request: Request) -> dict[str, list[str]]:
    config = resources(request).providers.config
    return {name: list(section.series_ids) for name, section in sorted(config.providers.items())}


def _request(form: dict[str, str], *, dry_run: bool) -> BackfillRequest:
    datasets = [d.strip() for d in form.get("datasets", "").split(",") if d.strip()]
    return BackfillRequest(
        providers=[BackfillProvider(name=form.get("provider", ""), datasets=datasets or None)],
        start=date.fromisoformat(form.get("start", "")),
        end=date.fromisoformat(form.get("end", "")),
        dry_run=dry_run,
        force=form.get("force") == "on",
        reason=reason_of(form),
    )


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    if isinstance(exc, AurumError):
        return failure_message(exc)
    return "start and end must be dates (YYYY-MM-DD)"


@router.get("/backfill", response_class=HTMLResponse)
async def backfill_page(request: Request, session: Viewer) -> Response:
    return page(request, "backfill.html", session, {"choices": _choices(request), "form": {}})


async def _call(
    request: Request, session: UiSession, form: dict[str, str], *, dry_run: bool
) -> dict[str, Any]:
    body = _request(form, dry_run=dry_run)
    async with unit_of_work(request) as db:
        result: dict[str, Any] = await runs_api.start_backfill(
            body, request, Response(), db, audit_of(request, session, form)
        )
    return result


@router.post("/backfill/estimate", response_class=HTMLResponse)
async def estimate(request: Request) -> Response:
    session, form = await operator_form(request)
    context: dict[str, Any] = {"choices": _choices(request), "form": form}
    try:
        context["estimate"] = (await _call(request, session, form, dry_run=True))["estimate"]
    except (ValidationError, ValueError, AurumError) as exc:
        context["problem"] = _problem(exc)
    return page(request, "backfill.html", session, context)


@router.post("/backfill")
async def queue(request: Request) -> Response:
    session, form = await operator_form(request)
    try:
        result = await _call(request, session, form, dry_run=False)
    except (ValidationError, ValueError, AurumError) as exc:
        return back(request, "/ui/backfill", f"Not queued: {_problem(exc)}")
    runs = result["runs"]
    if len(runs) == 1:
        return back(request, f"/ui/runs/{runs[0]['id']}", "Backfill queued.")
    return back(request, "/ui/jobs", f"Backfill queued: {len(runs)} runs.")
