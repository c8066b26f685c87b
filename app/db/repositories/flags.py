"""Queries on `runtime_flags` and `runtime_flag_history`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import RuntimeFlag, RuntimeFlagHistory


async def get(session: AsyncSession, name: str, *, for_update: bool = False) -> RuntimeFlag | None:
    query = select(RuntimeFlag).where(col(RuntimeFlag.name) == name)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def list_all(session: AsyncSession) -> list[RuntimeFlag]:
    return list((await session.execute(select(RuntimeFlag))).scalars())


async def due_to_expire(session: AsyncSession, now: datetime) -> list[RuntimeFlag]:
    query = (
        select(RuntimeFlag)
        .where(col(RuntimeFlag.expires_at).is_not(None), col(RuntimeFlag.expires_at) <= now)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


async def save(session: AsyncSession, flag: RuntimeFlag, history: RuntimeFlagHistory) -> None:
    session.add(flag)
    session.add(history)
    await session.flush()


async def history(session: AsyncSession, name: str, *, limit: int) -> list[RuntimeFlagHistory]:
    query = (
        select(RuntimeFlagHistory)
        .where(col(RuntimeFlagHistory.name) == name)
        .order_by(col(RuntimeFlagHistory.version).desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
