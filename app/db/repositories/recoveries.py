"""Queries on `provider_recoveries`: mark a recovery, read it, consume it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import ProviderRecovery


async def mark(session: AsyncSession, provider: str, *, reason: str | None) -> None:
    """A recovery now: keeps the first pending time, moves `marked_at` and the reason."""
    now = func.now()
    statement = insert(ProviderRecovery).values(
        provider=provider, pending_since=now, marked_at=now, reason=reason
    )
    statement = statement.on_conflict_do_update(
        index_elements=["provider"],
        set_={"marked_at": now, "reason": statement.excluded.reason},
    )
    await session.execute(statement)


async def pending(session: AsyncSession, provider: str) -> ProviderRecovery | None:
    return await session.get(ProviderRecovery, provider)


async def consume(session: AsyncSession, provider: str, *, marked_at: datetime) -> bool:
    """Delete the marker a run read, unless a recovery was marked again since (`marked_at`
    moved: that one is for the next run)."""
    result = await session.execute(
        delete(ProviderRecovery).where(
            col(ProviderRecovery.provider) == provider,
            col(ProviderRecovery.marked_at) == marked_at,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
