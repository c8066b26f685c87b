"""`GET /v1/admin/audit`: who changed what, filtered, newest first, cursor-paginated.
There is deliberately no route that changes or deletes an entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.db.repositories.audit import AuditFilter, page
from app.db.session import SessionDep
from app.http.cursors import decode_cursor, encode_cursor, invalid_cursor
from app.http.windows import check_window

router = APIRouter(prefix="/v1/admin/audit", tags=["audit"])


class AuditEntry(BaseModel):
    id: int
    occurred_at: datetime
    principal: str
    role: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


def _before_id(cursor: str | None) -> int | None:
    position = decode_cursor(cursor)
    if position is not None and not isinstance(position, int):
        raise invalid_cursor()
    return position


@router.get("", response_model=AuditPage)
async def list_audit(
    session: SessionDep,
    principal: str | None = Query(default=None, description="e.g. key:ab12cd34 or jwt:alice"),
    target: str | None = Query(default=None, description="e.g. api_key:<id>"),
    action: str | None = Query(default=None, description="e.g. api_key.create"),
    since: datetime | None = Query(default=None, description="ISO 8601, inclusive"),
    until: datetime | None = Query(default=None, description="ISO 8601, exclusive"),
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, description="next_cursor of the previous page"),
) -> dict[str, Any]:
    check_window(since, until)
    filters = AuditFilter(
        principal=principal, target=target, action=action, since=since, until=until
    )
    rows = await page(session, filters, before_id=_before_id(cursor), limit=limit)
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit and rows[-1].id else None
    return {"items": [row.model_dump() for row in rows], "next_cursor": next_cursor}
