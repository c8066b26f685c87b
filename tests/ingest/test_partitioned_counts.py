"""The upsert tells inserted from updated rows on the partitioned observations table: rows
spread over several partitions (before 1900, a decade, two years), some new, some changed, some
unchanged, in batches that take the upsert (stored keys) and the COPY (new keys)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ingest.rows import BatchResult
from tests.ingest.conftest import Names
from tests.ingest.support import ingest_committed, obs, rows

SM = async_sessionmaker[AsyncSession]
# The partition before 1900, a decade partition and two yearly ones.
DAYS = [date(1850, 1, 1), date(1961, 1, 1), date(2019, 6, 1), date(2024, 2, 29)]


async def test_inserted_and_updated_counts_across_partitions(
    sessionmaker: SM, names: Names
) -> None:
    first = [obs("P", day, float(i)) for i, day in enumerate(DAYS)]
    assert await ingest_committed(sessionmaker, names, first) == BatchResult(
        new=4, changed=0, unchanged=0, rejected=0
    )
    # Two stored keys change, one stays, and one key is new in a partition that has rows.
    second = [
        obs("P", DAYS[0], 10.0),
        obs("P", DAYS[2], 2.0),
        obs("P", DAYS[3], 30.0),
        obs("P", date(2019, 7, 1), 5.0),
    ]
    assert await ingest_committed(sessionmaker, names, second) == BatchResult(
        new=1, changed=2, unchanged=1, rejected=0
    )
    # The same keys again, changed once more: a row updated before still counts as changed.
    third = [obs("P", DAYS[0], 11.0), obs("P", date(2019, 7, 1), 6.0)]
    assert await ingest_committed(sessionmaker, names, third) == BatchResult(
        new=0, changed=2, unchanged=0, rejected=0
    )
    stored = await rows(
        sessionmaker,
        "SELECT obs_date, value, tableoid::regclass::text FROM external_timeseries_obs "
        "WHERE provider = :p ORDER BY obs_date",
        p=names.provider,
    )
    assert [(d, v) for d, v, _ in stored] == [
        (DAYS[0], 11.0),
        (DAYS[1], 1.0),
        (DAYS[2], 2.0),
        (date(2019, 7, 1), 6.0),
        (DAYS[3], 30.0),
    ]
    assert len({part for *_, part in stored}) == 4
    changes = await rows(
        sessionmaker,
        "SELECT o->>'change', count(*) FROM kafka_outbox, "
        "json_array_elements(payload->'observations') o "
        "WHERE payload->>'provider' = :p GROUP BY 1 ORDER BY 1",
        p=names.provider,
    )
    assert changes == [("changed", 4), ("new", 5)]
