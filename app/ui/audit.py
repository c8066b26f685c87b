"""Audit: who changed what, filtered by principal, action and time (the API's handler)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.errors import AurumError
from app.routers import audit as audit_api
from app.ui.web import Viewer, failure_message, page, unit_of_work

router = APIRouter(prefix="/ui", include_in_schema=False)


def _since(text: str) -> datetime | None:
    """A date or date-time as the browser's inputs send it, read as UTC."""
    if not text.strip():
        return None
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    session: Viewer,
    principal: str = "",
    action: str = "",
    since: str = "",
) -> Response:
    filters = {"principal": principal, "action": action, "since": since}
    context: dict[str, object] = {"filters": filters, "items": []}
    try:
        async with unit_of_work(request) as db:
            found = await audit_api.list_audit(
                db, principal=principal.strip() or None, target=None,
                action=action.strip() or None, since=_since(since), until=None,
                limit=200, cursor=None,
            )  # fmt: skip
        context["items"] = found["items"]
    except ValueError:
        context["problem"] = "since: give a date such as 2026-01-31 or 2026-01-31T08:00"
    except AurumError as exc:
        context["problem"] = failure_message(exc)
    return page(request, "audit.html", session, context)
