"""The PostgreSQL side of the gauges every replica exports (app/monitoring/refresher.py): what
a newly started or newly elected replica must know without waiting for a run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Per dataset, the later of its checkpoint's last move (a committed batch of new rows) and the
# last succeeded ingest run that finished it (`progress[series].status = done`: also a run that
# found it current and fetched nothing). Runs are read through the (job_id, created_at) index,
# over `days` only: older successes are in the checkpoints anyway.
_LAST_SUCCESS = text(
    r"""
    SELECT provider, series_id, max(at) FROM (
      SELECT provider, series_id, updated_at AS at FROM ingest_checkpoints
      WHERE tenant_id = :tenant AND series_id NOT LIKE '\_%'
      UNION ALL
      SELECT r.provider, p.key, r.finished_at FROM job_runs r
      CROSS JOIN LATERAL jsonb_each(r.progress) p
      WHERE r.job_id = ANY(:jobs) AND r.created_at >= now() - make_interval(days => :days)
        AND r.status = 'succeeded' AND p.key NOT LIKE '\_%'
        AND jsonb_typeof(p.value) = 'object' AND p.value->>'status' = 'done'
    ) s WHERE provider IS NOT NULL AND at IS NOT NULL GROUP BY provider, series_id
    """
)
_AUTOMATIC_PAUSES = text("SELECT job_id FROM job_pauses WHERE automatic")
_QUALITY = text(
    "SELECT DISTINCT ON (provider) provider, quality_score FROM validation_results "
    "WHERE tenant_id = :tenant AND status = 'completed' AND quality_score IS NOT NULL "
    "ORDER BY provider, started_at DESC"
)


async def dataset_last_successes(
    session: AsyncSession, *, tenant_id: str, ingest_jobs: list[str], days: int = 35
) -> dict[tuple[str, str], datetime]:
    """(provider, series_id) → when the dataset last finished a successful ingest."""
    params = {"tenant": tenant_id, "jobs": ingest_jobs, "days": days}
    rows = (await session.execute(_LAST_SUCCESS, params)).all()
    return {(provider, series): at for provider, series, at in rows}


async def automatically_paused(session: AsyncSession) -> set[str]:
    """Job ids paused by the auto-pause rule (not by an operator)."""
    return {job_id for (job_id,) in (await session.execute(_AUTOMATIC_PAUSES)).all()}


async def latest_quality_scores(session: AsyncSession, *, tenant_id: str) -> dict[str, float]:
    """Provider → quality score of its latest completed validation run."""
    rows = (await session.execute(_QUALITY, {"tenant": tenant_id})).all()
    return {provider: float(score) for provider, score in rows}
