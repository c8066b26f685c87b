"""Rows with new keys go straight into the table with Python-built messages; stored keys take
the upsert. Both in one batch, the messages' content, and a concurrent writer that stores a
key between the lookup and the COPY (the savepoint falls back to the upsert)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ingest.rows import BatchResult
from tests.ingest.conftest import Names
from tests.ingest.support import counts, daily, ingest, ingest_committed, obs, rows

SM = async_sessionmaker[AsyncSession]
ENVELOPE = {"schema_version", "event_id", "tenant_id", "provider", "series_id", "part",
            "run_id", "batch_id", "ingested_at", "observations"}  # fmt: skip


async def _messages(sessionmaker: SM, names: Names) -> list[dict[str, Any]]:
    found = await rows(
        sessionmaker,
        "SELECT payload, headers FROM kafka_outbox WHERE payload->>'provider' = :p ORDER BY id",
        p=names.provider,
    )
    for payload, headers in found:
        assert set(payload) == ENVELOPE and headers["event_id"] == payload["event_id"]
    return [payload for payload, _ in found]


async def test_new_and_stored_keys_in_one_batch(sessionmaker: SM, names: Names) -> None:
    first = daily("S", 3)  # 2020-01-01 .. 03
    await ingest_committed(sessionmaker, names, first)
    batch = [*daily("S", 7)]  # the same three, then four new days
    batch[1] = obs("S", date(2020, 1, 2), 99.5)  # one stored key changes
    result = await ingest_committed(sessionmaker, names, batch)
    assert result == BatchResult(new=4, changed=1, unchanged=2, rejected=0)
    assert await counts(sessionmaker, names.provider) == {"obs": 7, "outbox": 3 + 4 + 1, "dead": 0}

    second = (await _messages(sessionmaker, names))[1:]  # the first batch's message comes first
    assert [(m["part"], {o["change"] for o in m["observations"]}) for m in second] == [
        (0, {"new"}),  # the new rows' message, then the changed row's: parts never collide
        (1, {"changed"}),
    ]
    assert [o["obs_date"] for o in second[0]["observations"]] == [
        f"2020-01-0{d}" for d in range(4, 8)
    ]
    assert second[1]["observations"][0]["value"] == 99.5
    assert (
        len({m["event_id"] for m in second}) == 2 and second[0]["batch_id"] == second[1]["batch_id"]
    )


async def test_a_new_rows_message_has_the_content_the_sql_path_gives(
    sessionmaker: SM, names: Names
) -> None:
    """The same rows, once new (messages built in Python) and once changed (built by the
    upsert's SQL): the observations differ only in `change`."""
    tricky = [obs("Q\\1", date(2021, 1, d), v, units='a "unit"\t\\', metadata={"k": "é\n"})
              for d, v in ((1, -0.0), (2, 1e-300), (3, 12345678901234.5))]  # fmt: skip
    tricky.append(obs("Q\\1", date(2021, 1, 4), None, raw_value=None))
    await ingest_committed(sessionmaker, names, tricky)
    changed = [obs(r.series_id, r.obs_date or date.min, 7.0) for r in tricky]
    await ingest_committed(sessionmaker, names, changed)
    await ingest_committed(sessionmaker, names, tricky)  # back again: the upsert path, `changed`
    new, _, back = await _messages(sessionmaker, names)
    assert _shared(new) == _shared(back)  # the envelope, but for per-batch ids and time
    assert [{**o, "change": "changed"} for o in new["observations"]] == back["observations"]
    assert new["observations"][0]["units"] == 'a "unit"\t\\'
    assert new["observations"][0]["metadata"] == {"k": "é\n"}


async def test_a_key_stored_by_another_writer_meanwhile_falls_back_to_the_upsert(
    sessionmaker: SM, names: Names
) -> None:
    """Writer A stores K but has not committed when B's lookup runs: B sees K as new, its
    COPY waits for A's row lock, then hits the unique key once A commits. B's savepoint rolls
    back and its whole batch takes the upsert: nothing is lost, nothing doubled."""
    key = obs("K", date(2022, 5, 1), 1.0)
    async with sessionmaker() as first:
        await ingest(first, names, [key])
        other = asyncio.create_task(
            ingest_committed(sessionmaker, names, [key, *daily("K", 2, start=date(2022, 5, 2))])
        )
        await _wait_for_a_lock_wait(first, other)
        await first.commit()
    result = await asyncio.wait_for(other, 30)
    assert result == BatchResult(new=2, changed=0, unchanged=1, rejected=0)
    assert await counts(sessionmaker, names.provider) == {"obs": 3, "outbox": 3, "dead": 0}


def _shared(message: dict[str, Any]) -> dict[str, Any]:
    per_batch = {"event_id", "batch_id", "run_id", "ingested_at", "observations"}
    return {k: v for k, v in message.items() if k not in per_batch}


async def _wait_for_a_lock_wait(session: AsyncSession, other: asyncio.Task[Any]) -> None:
    """Until another backend of this database waits on a lock (B's COPY behind A's row). If
    B ended first, its own outcome is the failure to show, not the missing wait."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    async with session.bind.connect() as probe:  # type: ignore[union-attr]
        for _ in range(600):
            if (await probe.execute(query)).scalar_one():
                return
            if other.done():
                raise AssertionError(f"the second writer ended without waiting: {other.result()}")
            await asyncio.sleep(0.05)
    raise AssertionError("the second writer never waited for the first one's row in 30 s")
