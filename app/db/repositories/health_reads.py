"""The few queries behind the health view: the last and recent ingest runs, successful run
times, and the configured datasets' checkpoints with their catalog frequency (the SLA's are in
sla_reads.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import JobRun, RunStatus


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
          SELECT w.provider, w.series_id, k.last_obs_date, k.updated_at, d.frequency
          FROM unnest(CAST(:providers AS text[]), CAST(:series AS text[]))
               AS w(provider, series_id)
          LEFT JOIN ingest_checkpoints k
            ON k.tenant_id = :tenant AND k.provider = w.provider AND k.series_id = w.series_id
          LEFT JOIN datasets d
            ON d.provider = w.provider AND d.series_id = w.series_id) c),
      'validation', (SELECT coalesce(json_agg(v), '[]') FROM (
          SELECT DISTINCT ON (provider) provider, status, success, success_percent,
                 failed_expectations, finished_at
          FROM validation_results
          WHERE tenant_id = :tenant AND status IN ('completed', 'errored')
          ORDER BY provider, started_at DESC) v)
    )
    """
)


async def snapshot(
    session: AsyncSession,
    *,
    jobs: list[str],
    tenant_id: str,
    datasets: list[tuple[str, str]],
) -> dict[str, Any]:
    """{last: [run], successes: {job: iso}, pauses: [pause], series: [row], validation: [row]}
    with timestamps as ISO strings, for app/health/service.py. `series` holds the
    (provider, series_id) `datasets` only, the configured ones the view shows: reading every
    checkpoint and catalog row cost most of the view at 20,000 series."""
    params = {
        "jobs": jobs,
        "tenant": tenant_id,
        "providers": [provider for provider, _ in datasets],
        "series": [series_id for _, series_id in datasets],
    }
    row = (await session.execute(_SNAPSHOT, params)).scalar_one()
    result: dict[str, Any] = row
    return result
