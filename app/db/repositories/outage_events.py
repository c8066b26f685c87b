"""Queries on `outage_events` and the one lookup every event recorder needs: which outage, if
any, is open on a provider."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import OutageEvent, OutageStatus, ProviderOutage


async def open_outage_id(session: AsyncSession, provider: str) -> uuid.UUID | None:
    """The id of the provider's open outage, or None."""
    result = await session.execute(
        select(col(ProviderOutage.id)).where(
            col(ProviderOutage.provider) == provider,
            col(ProviderOutage.status) == OutageStatus.OPEN,
        )
    )
    return result.scalar_one_or_none()


async def add(
    session: AsyncSession,
    outage_id: uuid.UUID,
    *,
    kind: str,
    summary: str,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One timeline line; `at` is the transaction's time."""
    session.add(
        OutageEvent(
            outage_id=outage_id, kind=kind, summary=summary, actor=actor, detail=detail or {}
        )
    )
    await session.flush()


async def add_if_open(
    session: AsyncSession,
    provider: str,
    *,
    kind: str,
    summary: str,
    actor: str | None = None,
    detail: dict[str, Any] | None = None,
) -> uuid.UUID | None:
    """Record an event on the provider's open outage, if there is one; its id, or None."""
    outage_id = await open_outage_id(session, provider)
    if outage_id is not None:
        await add(session, outage_id, kind=kind, summary=summary, actor=actor, detail=detail)
    return outage_id


async def for_outage(session: AsyncSession, outage_id: uuid.UUID) -> Sequence[OutageEvent]:
    """Every event of an outage, oldest first."""
    result = await session.execute(
        select(OutageEvent)
        .where(col(OutageEvent.outage_id) == outage_id)
        .order_by(col(OutageEvent.at), col(OutageEvent.id))
    )
    return result.scalars().all()
