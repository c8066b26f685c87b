"""The few queries behind the health and SLA views: the last and recent ingest runs, per-series
checkpoints with their catalog frequency, successful run times and observation counts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import Dataset, IngestCheckpoint, JobRun, Observation, RunStatus


async def last_runs(session: AsyncSession, job_ids: list[str]) -> dict[str, JobRun]:
    """The newest run of each of `job_ids` (uses the (job_id, created_at) index)."""
    query = (
        select(JobRun)
        .where(col(JobRun.job_id).in_(job_ids))
        .ext(distinct_on(col(JobRun.job_id)))
        .order_by(col(JobRun.job_id), col(JobRun.created_at).desc())
    )
    return {run.job_id: run for run in (await session.execute(query)).scalars()}


async def last_successes(session: AsyncSession, job_ids: list[str]) -> dict[str, datetime]:
    query = (
        select(col(JobRun.job_id), func.max(col(JobRun.finished_at)))
        .where(col(JobRun.job_id).in_(job_ids), col(JobRun.status) == RunStatus.SUCCEEDED)
        .group_by(col(JobRun.job_id))
    )
    return {job: at for job, at in (await session.execute(query)).all() if at is not None}


async def recent_runs(session: AsyncSession, job_id: str, *, limit: int) -> list[JobRun]:
    query = (
        select(JobRun)
        .where(col(JobRun.job_id) == job_id)
        .order_by(col(JobRun.created_at).desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def series_state(session: AsyncSession, *, tenant_id: str) -> dict[tuple[str, str], Any]:
    """(provider, series) → (last_obs_date, checkpoint updated_at, catalog frequency)."""
    query = select(
        col(IngestCheckpoint.provider),
        col(IngestCheckpoint.series_id),
        col(IngestCheckpoint.last_obs_date),
        col(IngestCheckpoint.updated_at),
    ).where(col(IngestCheckpoint.tenant_id) == tenant_id)
    out: dict[tuple[str, str], Any] = {
        (p, s): [obs, at, None] for p, s, obs, at in (await session.execute(query)).all()
    }
    catalog = select(col(Dataset.provider), col(Dataset.series_id), col(Dataset.frequency))
    for p, s, frequency in (await session.execute(catalog)).all():
        out.setdefault((p, s), [None, None, None])[2] = frequency
    return out


async def runs_since(session: AsyncSession, job_id: str, since: datetime) -> list[JobRun]:
    """Finished runs of `job_id` since `since`, plus the last success before it (the lag at
    the window's start depends on it), oldest first."""
    finished = (RunStatus.SUCCEEDED, RunStatus.FAILED)
    in_window = select(JobRun).where(
        col(JobRun.job_id) == job_id,
        col(JobRun.status).in_(finished),
        col(JobRun.finished_at) >= since,
    )
    before = (
        select(JobRun)
        .where(
            col(JobRun.job_id) == job_id,
            col(JobRun.status) == RunStatus.SUCCEEDED,
            col(JobRun.finished_at) < since,
        )
        .order_by(col(JobRun.finished_at).desc())
        .limit(1)
    )
    runs = list((await session.execute(before)).scalars())
    runs += list((await session.execute(in_window)).scalars())
    return sorted(runs, key=lambda r: r.finished_at or since)


async def observation_dates(
    session: AsyncSession, *, tenant_id: str, provider: str, start: date, end: date
) -> dict[str, set[date]]:
    """Distinct observation dates per series of `provider` in [start, end]."""
    query = select(col(Observation.series_id), col(Observation.obs_date)).where(
        col(Observation.tenant_id) == tenant_id,
        col(Observation.provider) == provider,
        col(Observation.obs_date) >= start,
        col(Observation.obs_date) <= end,
    )
    out: dict[str, set[date]] = {}
    for series, day in (await session.execute(query)).all():
        out.setdefault(series, set()).add(day)
    return out
