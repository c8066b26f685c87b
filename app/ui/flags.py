"""Flags: every flag with its value and expiry, a change with TTL and reason (the API's
handler, waiting for the replicas), and which replica applied which version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.errors import AurumError
from app.routers import runtime_config, runtime_status
from app.ui.web import (
    Viewer,
    audit_of,
    back,
    failure_message,
    operator_form,
    page,
    reason_of,
    unit_of_work,
)

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/flags", response_class=HTMLResponse)
async def flags_page(request: Request, session: Viewer) -> Response:
    async with unit_of_work(request) as db:
        flags = await runtime_config.list_flags(db, request)
        status = await runtime_status.propagation_status(request, db)
    return page(request, "flags.html", session, {"flags": flags, "status": status})


@router.post("/flags/{name}")
async def change(request: Request, name: str) -> Response:
    session, form = await operator_form(request)
    try:
        minutes = form.get("ttl_minutes", "").strip()
        body = runtime_config.FlagChange(
            enabled=form.get("enabled") == "on",
            ttl_seconds=int(minutes) * 60 if minutes else None,
            reason=reason_of(form),
        )
    except (ValidationError, ValueError):
        return back(request, "/ui/flags", f"{name}: TTL must be 1 to 43200 minutes.")
    try:
        async with unit_of_work(request) as db:
            flag: dict[str, Any] = await runtime_config.set_flag(
                name, body, db, audit_of(request, session, form), request, Response(),
                if_match=None, wait=True,
            )  # fmt: skip
    except AurumError as exc:
        return back(request, "/ui/flags", f"{name}: {failure_message(exc)}")
    spread = flag.get("propagation") or {}
    applied = f"applied by {spread.get('applied', 0)} of {spread.get('live_replicas', 0)} replicas"
    state = "on" if flag["enabled"] else "off"
    return back(request, "/ui/flags", f"{name} is {state} (version {flag['version']}, {applied}).")
