"""The SLA's per-dataset figures as they were computed before the monthly stats: every
observation date of the window and every run's progress read into Python. The tests compare
the aggregates' figures with these on the same data, and bench/sla_aggregates times both."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import Dataset, IngestCheckpoint, JobRun, Observation, RunStatus
from app.health import freshness
from app.health.lags import freshness_measure, lag_samples
from app.health.sla_datasets import COMPLETENESS_TARGET, measure


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


def _dataset_done(run: JobRun, series_id: str) -> bool:
    progress = run.progress or {}
    entry = progress.get(series_id)
    return entry is None or entry.get("status") == "done"


async def provider_figures(
    session: AsyncSession, *, tenant_id: str, name: str, section: Any, start: datetime,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """(the provider's freshness, {series_id: dataset figures}), the old way."""
    job = f"ingest.{name}"
    target = freshness.ingest_target_seconds(section.schedule.get("ingest"))
    runs = await runs_since(session, job, start)
    series = await series_state(session, tenant_id=tenant_id)
    present = await observation_dates(
        session, tenant_id=tenant_id, provider=name,
        start=start.date() - timedelta(days=1), end=now.date(),
    )  # fmt: skip
    first_seen = min((r.created_at or now for r in runs), default=None)
    successes = [r for r in runs if r.status == RunStatus.SUCCEEDED and r.finished_at]
    provider_fresh = freshness_measure(
        lag_samples([r.finished_at for r in successes if r.finished_at], first_seen, start, now),
        target,
    )
    catalog = {s: st[2] for (p, s), st in series.items() if p == name}
    datasets: dict[str, Any] = {}
    for series_id, frequency in freshness.configured_frequencies(name, section, catalog).items():
        done = [r.finished_at for r in successes if r.finished_at and _dataset_done(r, series_id)]
        expected = freshness.expected_periods(frequency, start.date(), now.date())
        have = present.get(series_id, set())
        completeness = len([d for d in expected if d in have]) / len(expected) if expected else None
        age = freshness.data_age(frequency, (series.get((name, series_id)) or [None])[0])
        datasets[series_id] = {
            "frequency": frequency,
            "freshness": freshness_measure(lag_samples(done, first_seen, start, now), target),
            "data_age": age.as_dict(),
            "completeness": measure(completeness, COMPLETENESS_TARGET)
            | {"expected_periods": len(expected)},
        }
    return provider_fresh, datasets
