"""Queries on `provider_outages`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import OutageStatus, ProviderOutage


async def add(session: AsyncSession, outage: ProviderOutage) -> ProviderOutage:
    """Insert and flush (the unique index on open outages answers a concurrent declaration)."""
    session.add(outage)
    await session.flush()
    await session.refresh(outage)
    return outage


async def get(
    session: AsyncSession, outage_id: uuid.UUID, *, for_update: bool = False
) -> ProviderOutage | None:
    query = select(ProviderOutage).where(col(ProviderOutage.id) == outage_id)
    if for_update:
        # FOR NO KEY UPDATE: an outage event inserted meanwhile (a breaker or health transition
        # the resolve's own probe causes) takes KEY SHARE on this row for its foreign key;
        # FOR UPDATE would make it wait for the resolve to commit.
        query = query.with_for_update(key_share=True)
    return (await session.execute(query)).scalar_one_or_none()


async def open_for(session: AsyncSession, provider: str) -> ProviderOutage | None:
    query = select(ProviderOutage).where(
        col(ProviderOutage.provider) == provider,
        col(ProviderOutage.status) == OutageStatus.OPEN,
    )
    return (await session.execute(query)).scalar_one_or_none()


async def open_outages(session: AsyncSession) -> Sequence[ProviderOutage]:
    """Every open outage (at most one per provider; the partial index serves it)."""
    query = select(ProviderOutage).where(col(ProviderOutage.status) == OutageStatus.OPEN)
    return (await session.execute(query)).scalars().all()


async def due_to_expire(
    session: AsyncSession, now: datetime, *, limit: int = 100
) -> Sequence[ProviderOutage]:
    """Open outages past their expiry, locked; rows another resolve holds are skipped."""
    query = (
        select(ProviderOutage)
        .where(
            col(ProviderOutage.status) == OutageStatus.OPEN,
            col(ProviderOutage.expires_at).is_not(None),
            col(ProviderOutage.expires_at) <= now,
        )
        .order_by(col(ProviderOutage.expires_at))
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return (await session.execute(query)).scalars().all()


async def page(
    session: AsyncSession,
    *,
    status: str | None,
    provider: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[ProviderOutage]:
    """Newest first, keyset-paginated on (declared_at, id)."""
    query = select(ProviderOutage)
    if status is not None:
        query = query.where(col(ProviderOutage.status) == status)
    if provider is not None:
        query = query.where(col(ProviderOutage.provider) == provider)
    if before is not None:
        at, outage_id = before
        query = query.where(
            or_(
                col(ProviderOutage.declared_at) < at,
                and_(col(ProviderOutage.declared_at) == at, col(ProviderOutage.id) < outage_id),
            )
        )
    query = query.order_by(col(ProviderOutage.declared_at).desc(), col(ProviderOutage.id).desc())
    return (await session.execute(query.limit(limit))).scalars().all()
