"""Recording and reading audit entries."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.db.models import AuditLog
from app.db.repositories import audit as audit_repo
from app.errors import InvalidInput


@dataclass(frozen=True)
class AuditContext:
    """Who is acting, on behalf of which request, and why (from `X-Change-Reason`)."""

    principal: Principal
    request_id: str | None = None
    reason: str | None = None


async def record(
    session: AsyncSession,
    context: AuditContext,
    *,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditLog:
    """Append one entry in the caller's transaction (it commits or rolls back with the change)."""
    entry = AuditLog(
        principal=context.principal.id,
        role=context.principal.role.value,
        action=action,
        target=target,
        before=to_jsonable_python(before),  # datetimes, UUIDs, enums → JSON for JSONB
        after=to_jsonable_python(after),
        reason=(reason or context.reason or None),
        request_id=context.request_id,
    )
    return await audit_repo.append(session, entry)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"a:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value = raw.split(":", 1)
        if kind != "a":
            raise ValueError(kind)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "cursor is not one this API returned; pass next_cursor from the previous page",
            details=[{"field": "cursor", "message": "invalid cursor"}],
        ) from exc
