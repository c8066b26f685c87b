"""The SLA's figures from the aggregates equal the figures from reading every observation and
every run's progress (tests/health/sla_reference.py), on the same data: completeness for each
frequency, freshness p50/p95 and deadline share per provider and per dataset, data age."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.db.engine import async_url
from app.db.repositories import runs as run_repo
from app.db.repositories.sla_reads import day_masks
from app.health import sla_datasets
from app.ingest.pipeline import ingest_batch
from app.ingest.rows import RawObservation
from app.providers.config import ProviderSection
from tests.health import sla_reference

TENANT = "default"
NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
WINDOWS = [timedelta(hours=24), timedelta(days=7), timedelta(days=30), timedelta(days=400),
           timedelta(days=1100)]  # fmt: skip


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(async_url(database_url), pool_size=2)
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    await engine.dispose()


def _days(rng: random.Random, first: date, last: date, keep: float) -> list[date]:
    span = (last - first).days
    return [first + timedelta(n) for n in range(span + 1) if rng.random() < keep]


def _series(rng: random.Random) -> dict[str, tuple[str, list[date]]]:
    """series → (configured frequency, observation dates): gaps, weekends, misaligned weeks."""
    back = TODAY - timedelta(days=1200)
    months = [date(y, m, 1) for y in range(back.year, TODAY.year + 1) for m in range(1, 13)]
    months = [m for m in months if back <= m <= TODAY]
    return {
        "DAILY": ("daily", _days(rng, back, TODAY, 0.93)),
        "BDAY": ("business_daily", [d for d in _days(rng, back, TODAY, 0.95)
                                    if d.weekday() < 5 or rng.random() < 0.3]),
        "WEEKLY_ANY": ("weekly", _days(rng, back, TODAY, 0.3)),
        "WEEKLY_MON": ("weekly", [d for d in _days(rng, back, TODAY, 0.9) if d.weekday() == 0]),
        "MONTHLY": ("monthly", [m for m in months if (m.year * 12 + m.month) % 7]),
        "QUARTERLY": ("quarterly", [m for m in months
                                    if m.month % 3 == 1 and (m.year + m.month) % 4]),
        "ANNUAL": ("annual", [m for m in months if m.month == 1]),
        "EMPTY": ("daily", []),
    }  # fmt: skip


async def _ingest(sessionmaker: async_sessionmaker[AsyncSession], provider: str,
                  series: dict[str, tuple[str, list[date]]]) -> None:  # fmt: skip
    rows = [
        RawObservation(
            series_id=s,
            period_label=d.isoformat(),
            obs_date=d,
            value=1.0,
            raw_value="1",
            units="x",
            metadata={},
        )
        for s, (_, days) in series.items()
        for d in days
    ]
    async with sessionmaker() as session:
        for start in range(0, len(rows), 2000):
            await ingest_batch(
                session, tenant_id=TENANT, provider=provider, rows=rows[start : start + 2000],
                run_id=uuid.uuid4(), topic=f"aurum.ref.{provider}.series.v1",
                dlq_topic=f"aurum.ref.{provider}.series.dlq.v1", publish=False,
            )  # fmt: skip
        await session.execute(
            text(
                "INSERT INTO ingest_checkpoints (tenant_id, provider, series_id, last_obs_date)"
                " VALUES (:t, :p, 'DAILY', :d), (:t, :p, 'MONTHLY', :m)"
            ),
            {"t": TENANT, "p": provider, "d": TODAY - timedelta(days=3), "m": date(2020, 1, 1)},
        )
        # The catalog's frequency wins over the configured one.
        await session.execute(
            text(
                "INSERT INTO providers (name, display_name, enabled, mode, base_url)"
                " VALUES (:p, :p, true, 'live', '')"
            ),
            {"p": provider},
        )
        await session.execute(
            text(
                "INSERT INTO datasets (provider, series_id, title, frequency, enabled)"
                " VALUES (:p, 'ANNUAL', '', 'Monthly', true)"
            ),
            {"p": provider},
        )
        await session.commit()


async def _runs(sessionmaker: async_sessionmaker[AsyncSession], provider: str,
                datasets: list[str], rng: random.Random) -> None:  # fmt: skip
    """Runs every 2 to 30 hours over 40 days: some failed, some leaving datasets unfinished;
    half written the way runs.finish writes them, half with only their progress (as before
    0011)."""
    at = NOW - timedelta(days=40)
    rows: list[dict[str, Any]] = []
    while at < NOW - timedelta(hours=1):
        status = "failed" if rng.random() < 0.15 else "succeeded"
        progress: dict[str, Any] = {"_mode": "incremental"}
        for series_id in datasets:
            roll = rng.random()
            if roll < 0.1:
                progress[series_id] = {"status": "failed", "rows": 0}
            elif roll < 0.8:
                progress[series_id] = {"status": "done", "rows": 3}
        legacy = rng.random() < 0.5
        rows.append({
            "id": uuid.uuid4(), "job": f"ingest.{provider}", "status": status,
            "created": at, "finished": at + timedelta(minutes=rng.randint(1, 90)),
            "progress": json.dumps(progress),
            "unfinished": None if legacy else run_repo.unfinished_datasets(progress),
        })  # fmt: skip
        at += timedelta(hours=rng.randint(2, 30))
    async with sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO job_runs (id, job_id, trigger, status, created_at, started_at,"
                " finished_at, progress, unfinished_datasets) VALUES (:id, :job, 'scheduled',"
                " :status, :created, :created, :finished, CAST(:progress AS jsonb),"
                " :unfinished)"
            ),
            rows,
        )
        await session.commit()


async def test_the_aggregates_give_the_figures_every_observation_gives(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    provider = f"t{uuid.uuid4().hex[:12]}"
    series = _series(rng)
    await _ingest(sessionmaker, provider, series)
    await _runs(sessionmaker, provider, list(series), rng)
    section = ProviderSection.model_construct(
        datasets=[{"series_id": s, "frequency": f} for s, (f, _) in series.items()],
        schedule={},
    )
    seen_completeness: dict[str, set[float | None]] = {}
    for window in WINDOWS:
        start = NOW - window
        async with sessionmaker() as session:
            args: dict[str, Any] = {"tenant_id": TENANT, "name": provider, "section": section,
                                    "start": start, "now": NOW}  # fmt: skip
            new = await sla_datasets.provider_figures(session, **args)
            old = await sla_reference.provider_figures(session, **args)
        assert new == old, window
        for series_id, figures in new[1].items():
            value = figures["completeness"]["value"]
            seen_completeness.setdefault(series_id, set()).add(value)
        assert new[0]["lag_p50_seconds"] is not None or window == timedelta(days=1100)
    # Every frequency had periods due in some window and missed some of them.
    for series_id in ("DAILY", "BDAY", "WEEKLY_ANY", "MONTHLY", "QUARTERLY"):
        assert seen_completeness[series_id] - {None, 0.0, 1.0}, series_id
    assert {None, 0.0} >= seen_completeness["EMPTY"]


async def test_per_dataset_freshness_counts_only_runs_that_finished_it(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    provider = f"t{uuid.uuid4().hex[:12]}"
    series = {"A": ("daily", [TODAY]), "B": ("daily", [TODAY])}
    await _ingest(sessionmaker, provider, series)
    async with sessionmaker() as session:
        for hours, progress in ((30, {}), (20, {"B": {"status": "failed"}}), (2, {})):
            run_id = uuid.uuid4()
            await session.execute(
                text(
                    "INSERT INTO job_runs (id, job_id, trigger, status, created_at, started_at)"
                    " VALUES (:id, :job, 'manual', 'running', :at, :at)"
                ),
                {"id": run_id, "job": f"ingest.{provider}", "at": NOW - timedelta(hours=hours)},
            )
            await run_repo.finish(session, run_id, status="succeeded", progress=progress)
            await session.execute(
                text("UPDATE job_runs SET finished_at = :at WHERE id = :id"),
                {"id": run_id, "at": NOW - timedelta(hours=hours)},
            )
        await session.commit()
        section = ProviderSection.model_construct(
            datasets=[{"series_id": "A"}, {"series_id": "B"}], schedule={}
        )
        args: dict[str, Any] = {"tenant_id": TENANT, "name": provider, "section": section,
                                "start": NOW - timedelta(hours=24), "now": NOW}  # fmt: skip
        provider_fresh, datasets = await sla_datasets.provider_figures(session, **args)
        assert (provider_fresh, datasets) == await sla_reference.provider_figures(session, **args)
    # B's only success in the window's first 22 hours is the run 30 hours ago.
    assert datasets["A"]["freshness"] == provider_fresh
    assert datasets["B"]["freshness"]["lag_p95_seconds"] > provider_fresh["lag_p95_seconds"]


def test_day_masks_set_one_bit_per_expected_day_of_each_month() -> None:
    expected = {"weekly": [date(2026, 1, 31), date(2026, 2, 7)], "monthly": [date(2026, 2, 1)]}
    assert sorted(day_masks(expected)) == [
        ("monthly", date(2026, 2, 1), 1),
        ("weekly", date(2026, 1, 1), 1 << 30),
        ("weekly", date(2026, 2, 1), 1 << 6),
    ]
