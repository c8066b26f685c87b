"""Queries on `job_pauses` and `scheduler_leader`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import JobPause, SchedulerLeader


async def pauses(session: AsyncSession) -> dict[str, JobPause]:
    return {p.job_id: p for p in (await session.execute(select(JobPause))).scalars()}


async def get_pause(
    session: AsyncSession, job_id: str, *, for_update: bool = False
) -> JobPause | None:
    query = select(JobPause).where(col(JobPause.job_id) == job_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def add_pause(session: AsyncSession, pause: JobPause) -> JobPause:
    session.add(pause)
    await session.flush()
    await session.refresh(pause)
    return pause


async def remove_pause(session: AsyncSession, job_id: str) -> None:
    await session.execute(delete(JobPause).where(col(JobPause.job_id) == job_id))


async def expired_pauses(session: AsyncSession, now: datetime) -> list[JobPause]:
    query = (
        select(JobPause)
        .where(col(JobPause.until).is_not(None), col(JobPause.until) <= now)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


async def leader(session: AsyncSession, name: str) -> SchedulerLeader | None:
    return await session.get(SchedulerLeader, name)
