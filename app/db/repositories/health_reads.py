"""The few queries behind the health and SLA views: the last and recent ingest runs, per-series
checkpoints with their catalog frequency, successful run times and observation counts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, text
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


# Everything the health overview reads from PostgreSQL, as one JSON document in one round-trip:
# the ORM's per-row objects cost more CPU than the queries themselves at this size.
_SNAPSHOT = text(
    """
    SELECT json_build_object(
      'last', (SELECT coalesce(json_agg(r), '[]') FROM (
          SELECT DISTINCT ON (job_id) id, job_id, status, trigger, started_at, finished_at,
                 duration_ms, rows_new, rows_changed, rows_rejected, error_summary
          FROM job_runs WHERE job_id = ANY(:jobs)
          ORDER BY job_id, created_at DESC) r),
      'successes', (SELECT coalesce(json_object_agg(job_id, at), '{}') FROM (
          SELECT job_id, max(finished_at) AS at FROM job_runs
          WHERE job_id = ANY(:jobs) AND status = 'succeeded' GROUP BY job_id) s
          WHERE at IS NOT NULL),
      'pauses', (SELECT coalesce(json_agg(p), '[]') FROM (
          SELECT job_id, paused_by, reason, paused_at, until, automatic FROM job_pauses
          WHERE job_id = ANY(:jobs)) p),
      'series', (SELECT coalesce(json_agg(c), '[]') FROM (
          SELECT coalesce(k.provider, d.provider) AS provider,
                 coalesce(k.series_id, d.series_id) AS series_id,
                 k.last_obs_date, k.updated_at, d.frequency
          FROM (SELECT provider, series_id, last_obs_date, updated_at FROM ingest_checkpoints
                WHERE tenant_id = :tenant) k
          FULL OUTER JOIN datasets d
            ON d.provider = k.provider AND d.series_id = k.series_id) c),
      'validation', (SELECT coalesce(json_agg(v), '[]') FROM (
          SELECT DISTINCT ON (provider) provider, status, success, success_percent,
                 failed_expectations, finished_at
          FROM validation_results
          WHERE tenant_id = :tenant AND status IN ('completed', 'errored')
          ORDER BY provider, started_at DESC) v)
    )
    """
)


async def snapshot(session: AsyncSession, *, jobs: list[str], tenant_id: str) -> dict[str, Any]:
    """{last: [run], successes: {job: iso}, pauses: [pause], series: [row], validation: [row]}
    with timestamps as ISO strings, for app/health/service.py."""
    row = (await session.execute(_SNAPSHOT, {"jobs": jobs, "tenant": tenant_id})).scalar_one()
    result: dict[str, Any] = row
    return result
