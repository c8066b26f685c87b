"""Settings with a tenant of its own per test (validation reads one tenant's rows), and rows
put into external_timeseries_obs through the real ingest pipeline."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.db.engine import async_url
from app.ingest.pipeline import ingest_batch
from app.ingest.rows import RawObservation
from app.settings import Settings
from tests.ingest.support import obs

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
def tenant_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"tenant_id": f"q{uuid.uuid4().hex[:10]}"})


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[SM]:
    engine = create_async_engine(async_url(database_url), pool_size=2)
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    await engine.dispose()


async def ingest(
    sessionmaker: SM, tenant_id: str, provider: str, rows: list[RawObservation]
) -> uuid.UUID:
    """Store `rows` as one ingest run; returns the run's id."""
    run_id = uuid.uuid4()
    async with sessionmaker() as session:
        await ingest_batch(
            session,
            tenant_id=tenant_id,
            provider=provider,
            rows=rows,
            run_id=run_id,
            topic=f"aurum.ref.{provider}.series.v1",
            dlq_topic=f"aurum.ref.{provider}.series.dlq.v1",
        )
        await session.commit()
    return run_id


def _months_back(today: date, count: int, step: int = 1) -> list[date]:
    first = date(today.year, today.month, 1)
    out = []
    for i in range(count):
        total = first.year * 12 + first.month - 1 - i * step
        out.append(date(total // 12, total % 12 + 1, 1))
    return sorted(out)


def clean_fred_rows() -> list[RawObservation]:
    """Recent, in-range rows for the four configured FRED series."""
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=i) for i in range(1, 61)]
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    rows = [obs("DGS10", d, round(4.0 + 0.01 * (i % 7), 2)) for i, d in enumerate(days)]
    rows += [obs("DEXUSEU", d, round(1.08 + 0.001 * (i % 5), 4)) for i, d in enumerate(days)]
    rows += [obs("UNRATE", d, 4.1) for d in _months_back(today, 24)[:-1]]
    quarters = [d for d in _months_back(quarter_start, 12, step=3)]
    rows += [obs("GDP", d, 29000.0 + 100 * i) for i, d in enumerate(quarters[:-1])]
    return rows


async def dgs10_history(sessionmaker: SM, tenant_id: str, *, days: int, end: date) -> None:
    """`days` daily DGS10 rows ending the day before `end`, written by one earlier run
    straight in SQL (the pipeline would take long for a large history), all in bounds."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date, "
                "period_label, value, raw_value, units, run_id) "
                "SELECT :tenant, 'fred', 'DGS10', d::date, to_char(d, 'YYYY-MM-DD'), 4.0, "
                "'4.0', 'Percent', :run FROM generate_series(CAST(:end AS date) - :days, "
                "CAST(:end AS date) - 1, interval '1 day') AS d"
            ),
            {"tenant": tenant_id, "end": end, "days": days, "run": uuid.uuid4()},
        )


async def set_value(sessionmaker: SM, tenant_id: str, day: date, value: float) -> None:
    """A bad value placed in history (not by a run being validated)."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE external_timeseries_obs SET value = :v, raw_value = :raw "
                "WHERE tenant_id = :t AND provider = 'fred' AND series_id = 'DGS10' "
                "AND obs_date = :d"
            ),
            {"v": value, "raw": str(value), "t": tenant_id, "d": day},
        )
