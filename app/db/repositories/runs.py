"""Queries on `job_runs`: create, claim, heartbeat, finish, and filtered reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import JobRun, RunStatus

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass(frozen=True)
class RunFilter:
    job_id: str | None = None
    provider: str | None = None
    status: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def add(session: AsyncSession, run: JobRun) -> JobRun:
    session.add(run)
    await session.flush()
    return run


async def start_scheduled(
    session: AsyncSession, *, job_id: str, provider: str | None, slot: datetime, replica: str
) -> uuid.UUID | None:
    """Record a scheduled run for its slot; None when that slot already has a run (another
    leader served it), so a slot never runs twice."""
    now = func.now()
    statement = (
        insert(JobRun)
        .values(
            id=uuid.uuid4(),
            job_id=job_id,
            provider=provider,
            trigger="scheduled",
            parameters={},
            status=RunStatus.RUNNING,
            slot=slot,
            replica_id=replica,
            started_at=now,
            heartbeat_at=now,
            progress={},
        )
        .on_conflict_do_nothing(
            index_elements=["job_id", "slot"], index_where=text("slot IS NOT NULL")
        )
        .returning(col(JobRun.id))
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def claim_queued(
    session: AsyncSession, *, replica: str, busy_jobs: set[str]
) -> JobRun | None:
    """The oldest queued run of a job that is not running here, marked running by `replica`."""
    query = select(JobRun).where(col(JobRun.status) == RunStatus.QUEUED)
    if busy_jobs:
        query = query.where(col(JobRun.job_id).not_in(busy_jobs))
    query = query.order_by(col(JobRun.created_at)).limit(1).with_for_update(skip_locked=True)
    run = (await session.execute(query)).scalar_one_or_none()
    if run is None:
        return None
    run.status = RunStatus.RUNNING
    run.replica_id = replica
    run.started_at = run.heartbeat_at = await session.scalar(select(func.now()))
    await session.flush()
    return run


async def get(
    session: AsyncSession, run_id: uuid.UUID, *, for_update: bool = False
) -> JobRun | None:
    query = select(JobRun).where(col(JobRun.id) == run_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def heartbeat(
    session: AsyncSession, run_id: uuid.UUID, *, progress: dict[str, Any] | None = None
) -> bool:
    """Refresh the heartbeat (and progress); True when the run was asked to stop."""
    values: dict[str, Any] = {"heartbeat_at": func.now()}
    if progress is not None:
        values["progress"] = progress
    statement = (
        update(JobRun)
        .where(col(JobRun.id) == run_id)
        .values(**values)
        .returning(col(JobRun.cancel_requested))
    )
    return bool((await session.execute(statement)).scalar_one_or_none())


async def finish(session: AsyncSession, run_id: uuid.UUID, **values: Any) -> None:
    statement = (
        update(JobRun)
        .where(col(JobRun.id) == run_id)
        .values(
            finished_at=func.now(),
            duration_ms=func.floor(
                func.extract("epoch", func.now() - func.coalesce(JobRun.started_at, func.now()))
                * 1000
            ),
            **values,
        )
    )
    await session.execute(statement)


async def page(
    session: AsyncSession,
    filters: RunFilter,
    *,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[JobRun]:
    """Newest first; the cursor is (created_at, id) of the previous page's last run."""
    query = select(JobRun)
    if filters.job_id:
        query = query.where(col(JobRun.job_id) == filters.job_id)
    if filters.provider:
        query = query.where(col(JobRun.provider) == filters.provider)
    if filters.status:
        query = query.where(col(JobRun.status) == filters.status)
    if filters.trigger:
        query = query.where(col(JobRun.trigger) == filters.trigger)
    if filters.since:
        query = query.where(col(JobRun.created_at) >= filters.since)
    if filters.until:
        query = query.where(col(JobRun.created_at) < filters.until)
    if before is not None:
        created, run_id = before
        query = query.where(
            (col(JobRun.created_at) < created)
            | ((col(JobRun.created_at) == created) & (col(JobRun.id) < run_id))
        )
    query = query.order_by(col(JobRun.created_at).desc(), col(JobRun.id).desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def last_per_job(session: AsyncSession) -> dict[str, JobRun]:
    query = (
        select(JobRun)
        .ext(distinct_on(col(JobRun.job_id)))
        .order_by(col(JobRun.job_id), col(JobRun.created_at).desc())
    )
    return {run.job_id: run for run in (await session.execute(query)).scalars()}


async def recent_scheduled_statuses(session: AsyncSession, job_id: str, *, limit: int) -> list[str]:
    """Statuses of the job's latest finished scheduled runs, newest first (skipped and
    abandoned runs don't count, nor do manual and backfill runs)."""
    query = (
        select(col(JobRun.status))
        .where(
            col(JobRun.job_id) == job_id,
            col(JobRun.trigger) == "scheduled",
            col(JobRun.status).in_([RunStatus.SUCCEEDED, RunStatus.FAILED]),
        )
        .order_by(col(JobRun.created_at).desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def active(session: AsyncSession, *, job_id: str | None = None) -> list[JobRun]:
    query = select(JobRun).where(col(JobRun.status).in_(ACTIVE))
    if job_id:
        query = query.where(col(JobRun.job_id) == job_id)
    return list((await session.execute(query.order_by(col(JobRun.created_at)))).scalars())


async def abandon_stale(session: AsyncSession, *, older_than_seconds: int) -> list[JobRun]:
    """Mark running runs whose heartbeat stopped as failed; returns them."""
    statement = (
        update(JobRun)
        .where(
            col(JobRun.status) == RunStatus.RUNNING,
            col(JobRun.heartbeat_at) < func.now() - timedelta(seconds=older_than_seconds),
        )
        .values(
            status=RunStatus.FAILED,
            finished_at=func.now(),
            error_summary=f"abandoned: no heartbeat for {older_than_seconds}s (its replica died)",
        )
        .returning(JobRun)
    )
    return list((await session.execute(statement)).scalars())
