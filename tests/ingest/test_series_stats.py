"""external_series_monthly_stats equals a GROUP BY over the observations after every kind of
write: new rows (COPY), changed rows (upsert), a mix, unchanged rows and a rolled-back batch."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.ingest.conftest import Names
from tests.ingest.support import daily, ingest, ingest_committed, obs, rows

STATS = (
    "SELECT series_id, month, observation_count, day_mask, first_date, last_date,"
    " last_updated_at FROM external_series_monthly_stats"
    " WHERE tenant_id = 'default' AND provider = :p ORDER BY series_id, month"
)
# What the stats must be: the same aggregate computed from scratch.
GROUPED = (
    "SELECT series_id, date_trunc('month', obs_date)::date AS month, count(*),"
    " bit_or(1 << (extract(day FROM obs_date)::int - 1)), min(obs_date), max(obs_date),"
    " max(coalesce(updated_at, ingested_at)) FROM external_timeseries_obs"
    " WHERE tenant_id = 'default' AND provider = :p GROUP BY 1, 2 ORDER BY 1, 2"
)


async def stats_and_grouped(
    sessionmaker: async_sessionmaker[AsyncSession], provider: str
) -> tuple[list[Any], list[Any]]:
    stats = await rows(sessionmaker, STATS, p=provider)
    return stats, await rows(sessionmaker, GROUPED, p=provider)


async def test_new_rows_write_one_stats_row_per_series_and_month(
    sessionmaker: async_sessionmaker[AsyncSession], names: Names
) -> None:
    # 70 days from Jan 20: January, February, March; two series.
    await ingest_committed(
        sessionmaker, names, daily("A", 70, date(2021, 1, 20)) + daily("B", 3, date(2021, 2, 27))
    )
    stats, grouped = await stats_and_grouped(sessionmaker, names.provider)
    assert stats == grouped
    assert [(s, m, n) for s, m, n, *_ in stats] == [
        ("A", date(2021, 1, 1), 12),
        ("A", date(2021, 2, 1), 28),
        ("A", date(2021, 3, 1), 30),
        ("B", date(2021, 2, 1), 2),
        ("B", date(2021, 3, 1), 1),
    ]
    assert stats[0][3] == sum(1 << (d - 1) for d in range(20, 32))


async def test_changed_and_mixed_batches_recompute_only_their_months(
    sessionmaker: async_sessionmaker[AsyncSession], names: Names
) -> None:
    await ingest_committed(sessionmaker, names, daily("A", 60, date(2021, 1, 1)))
    before, _ = await stats_and_grouped(sessionmaker, names.provider)
    # One changed value in February, and a new row in April next to a stored February one.
    batch = [
        obs("A", date(2021, 2, 10), 99.0),
        obs("A", date(2021, 2, 11), 41.0),  # daily() stored 41.0 here: unchanged
        obs("A", date(2021, 4, 2), 1.0),
    ]
    result = await ingest_committed(sessionmaker, names, batch)
    assert (result.new, result.changed, result.unchanged) == (1, 1, 1)
    after, grouped = await stats_and_grouped(sessionmaker, names.provider)
    assert after == grouped
    by_month = {row[1]: row for row in after}
    assert by_month[date(2021, 1, 1)] == {row[1]: row for row in before}[date(2021, 1, 1)]
    assert by_month[date(2021, 2, 1)][6] > {row[1]: row for row in before}[date(2021, 2, 1)][6]
    assert by_month[date(2021, 4, 1)][2:6] == (1, 1 << 1, date(2021, 4, 2), date(2021, 4, 2))


async def test_a_rolled_back_batch_leaves_the_stats_as_they_were(
    sessionmaker: async_sessionmaker[AsyncSession], names: Names
) -> None:
    await ingest_committed(sessionmaker, names, daily("A", 10, date(2021, 1, 1)))
    before, _ = await stats_and_grouped(sessionmaker, names.provider)
    async with sessionmaker() as session:
        await ingest(session, names, daily("A", 40, date(2021, 1, 5)))
        await session.rollback()
    after, grouped = await stats_and_grouped(sessionmaker, names.provider)
    assert after == before == grouped


async def test_a_resent_unchanged_batch_touches_no_stats(
    sessionmaker: async_sessionmaker[AsyncSession], names: Names
) -> None:
    # Every key stored: the whole batch takes the upsert path; nothing changes, nothing moves.
    first = daily("A", 35, date(2021, 1, 15))
    await ingest_committed(sessionmaker, names, first)
    before, _ = await stats_and_grouped(sessionmaker, names.provider)
    result = await ingest_committed(sessionmaker, names, daily("A", 35, date(2021, 1, 15)))
    assert result.unchanged == len(first)
    stats, grouped = await stats_and_grouped(sessionmaker, names.provider)
    assert stats == grouped == before
