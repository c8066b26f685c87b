"""Settings with a tenant of its own per test (validation reads one tenant's rows), and rows
put into external_timeseries_obs through the real ingest pipeline."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
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
) -> None:
    async with sessionmaker() as session:
        await ingest_batch(
            session,
            tenant_id=tenant_id,
            provider=provider,
            rows=rows,
            run_id=uuid.uuid4(),
            topic=f"aurum.ref.{provider}.series.v1",
            dlq_topic=f"aurum.ref.{provider}.series.dlq.v1",
        )
        await session.commit()


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
