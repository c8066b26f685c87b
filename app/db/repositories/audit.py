"""Queries on `audit_log`: append and filtered, cursor-paginated reads. No update or delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import AuditLog


@dataclass(frozen=True)
class AuditFilter:
    principal: str | None = None
    target: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def append(session: AsyncSession, entry: AuditLog) -> AuditLog:
    session.add(entry)
    await session.flush()
    return entry


async def page(
    session: AsyncSession, filters: AuditFilter, *, before_id: int | None, limit: int
) -> list[AuditLog]:
    """Newest first; `before_id` is the cursor (the last id of the previous page)."""
    query = select(AuditLog)
    if filters.principal:
        query = query.where(col(AuditLog.principal) == filters.principal)
    if filters.target:
        query = query.where(col(AuditLog.target) == filters.target)
    if filters.action:
        query = query.where(col(AuditLog.action) == filters.action)
    if filters.since:
        query = query.where(col(AuditLog.occurred_at) >= filters.since)
    if filters.until:
        query = query.where(col(AuditLog.occurred_at) < filters.until)
    if before_id is not None:
        query = query.where(col(AuditLog.id) < before_id)
    query = query.order_by(col(AuditLog.id).desc()).limit(limit)
    return list((await session.execute(query)).scalars())
