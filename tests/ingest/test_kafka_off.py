"""Kafka off (`publish=False`): the same writes, and not one outbox row, on every path."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ingest.rows import BatchResult
from tests.ingest.conftest import Names
from tests.ingest.support import counts, daily, ingest_committed, obs

SM = async_sessionmaker[AsyncSession]


async def test_new_changed_and_rejected_rows_write_no_outbox_row(
    sessionmaker: SM, names: Names
) -> None:
    first = await ingest_committed(sessionmaker, names, daily("DGS10", 5), publish=False)
    assert first == BatchResult(new=5, changed=0, unchanged=0, rejected=0)  # the COPY path

    revised = daily("DGS10", 6)
    revised[2] = obs("DGS10", revised[2].obs_date, 99.0)  # a revision, a new day, a bad row
    bad = obs("DGS10", revised[0].obs_date, float("nan"))
    second = await ingest_committed(sessionmaker, names, [*revised, bad], publish=False)
    assert (second.new, second.changed, second.rejected) == (1, 1, 1)  # the upsert path

    assert await counts(sessionmaker, names.provider) == {"obs": 6, "outbox": 0, "dead": 1}


async def test_publishing_is_the_default(sessionmaker: SM, names: Names) -> None:
    await ingest_committed(sessionmaker, names, daily("DGS10", 3))
    assert (await counts(sessionmaker, names.provider))["outbox"] == 3
