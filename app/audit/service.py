"""Recording and reading audit entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.db.models import AuditLog
from app.db.repositories import audit as audit_repo


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
