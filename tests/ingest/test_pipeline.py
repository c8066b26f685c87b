"""One ingest batch against the real schema: upsert, outbox, dead letters, checkpoints."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ingest import statements
from app.ingest.checks import MalformedBatch
from app.ingest.pipeline import ingest_batch
from app.ingest.rows import BatchResult, CheckpointUpdate, RawObservation
from tests.ingest.conftest import Names
from tests.ingest.support import counts, daily, ingest_committed, obs, rows, scalar

SM = async_sessionmaker[AsyncSession]


async def test_new_rows_land_with_one_outbox_message_per_series(
    sessionmaker: SM, names: Names
) -> None:
    result = await ingest_committed(sessionmaker, names, daily("DGS10", 5) + daily("DEXUSEU", 3))
    assert result == BatchResult(new=8, changed=0, unchanged=0, rejected=0)
    assert await counts(sessionmaker, names.provider) == {"obs": 8, "outbox": 8, "dead": 0}

    outbox = await rows(
        sessionmaker,
        "SELECT topic, key, payload, headers, sent_at FROM kafka_outbox "
        "WHERE payload->>'provider' = :p ORDER BY id",
        p=names.provider,
    )
    assert [row[1] for row in outbox] == ["DEXUSEU", "DGS10"]  # series order, one each
    topic, key, payload, headers, sent_at = outbox[1]
    assert (topic, key, sent_at) == (names.topic, "DGS10", None)
    assert payload["schema_version"] == 2 and headers["schema_version"] == "2"
    assert (payload["series_id"], payload["part"]) == ("DGS10", 0)
    observations = payload["observations"]
    assert [o["obs_date"] for o in observations] == [f"2020-01-0{d}" for d in range(1, 6)]
    assert {o["change"] for o in observations} == {"new"}
    assert observations[0]["value"] == 0.0 and observations[0]["units"] == "Percent"
    assert payload["event_id"] == headers["event_id"]
    assert len({row[2]["event_id"] for row in outbox}) == 2


async def test_a_big_series_batch_is_split_into_parts_in_date_order(
    sessionmaker: SM, names: Names
) -> None:
    size = statements.OBSERVATIONS_PER_MESSAGE * 2 + 1
    await ingest_committed(sessionmaker, names, daily("LONG", size))
    payloads = [
        row[0]
        for row in await rows(
            sessionmaker,
            "SELECT payload FROM kafka_outbox WHERE payload->>'provider' = :p ORDER BY id",
            p=names.provider,
        )
    ]
    assert [p["part"] for p in payloads] == [0, 1, 2]
    dates = [o["obs_date"] for p in payloads for o in p["observations"]]
    assert len(dates) == size and dates == sorted(dates)
    assert len({p["event_id"] for p in payloads}) == 3


async def test_identical_rerun_changes_nothing_and_emits_nothing(
    sessionmaker: SM, names: Names
) -> None:
    await ingest_committed(sessionmaker, names, daily("DGS10", 5))
    again = await ingest_committed(sessionmaker, names, daily("DGS10", 5))
    assert again == BatchResult(new=0, changed=0, unchanged=5, rejected=0)
    assert await counts(sessionmaker, names.provider) == {"obs": 5, "outbox": 5, "dead": 0}


async def test_a_changed_value_is_one_changed_row_and_one_message(
    sessionmaker: SM, names: Names
) -> None:
    batch = daily("DGS10", 5)
    await ingest_committed(sessionmaker, names, batch)
    batch[2] = obs("DGS10", batch[2].obs_date or date.min, 42.5)
    result = await ingest_committed(sessionmaker, names, batch)
    assert result == BatchResult(new=0, changed=1, unchanged=4, rejected=0)
    assert await counts(sessionmaker, names.provider) == {"obs": 5, "outbox": 6, "dead": 0}
    value, updated_at = (
        await rows(
            sessionmaker,
            "SELECT value, updated_at FROM external_timeseries_obs "
            "WHERE provider = :p AND obs_date = :d",
            p=names.provider,
            d=batch[2].obs_date,
        )
    )[0]
    assert value == 42.5 and updated_at is not None
    last = await scalar(
        sessionmaker,
        "SELECT payload FROM kafka_outbox WHERE payload->>'provider' = :p ORDER BY id DESC LIMIT 1",
        p=names.provider,
    )
    assert [(o["change"], o["value"]) for o in last["observations"]] == [("changed", 42.5)]


async def test_only_metadata_differing_is_not_a_change(sessionmaker: SM, names: Names) -> None:
    await ingest_committed(sessionmaker, names, [obs("S", date(2021, 1, 1), 1.0)])
    result = await ingest_committed(
        sessionmaker, names, [obs("S", date(2021, 1, 1), 1.0, metadata={"fetched": "later"})]
    )
    assert result.unchanged == 1


async def test_bad_rows_are_dead_lettered_with_reasons_and_good_rows_land(
    sessionmaker: SM, names: Names
) -> None:
    day = date(2022, 3, 1)
    batch = [
        obs("GOOD", day, 1.0),
        obs("GOOD", day, 1.5),  # same key: this later row wins, the first is rejected
        obs("NAN", day, float("nan")),
        obs("NODATE", day, 2.0, obs_date=None),
        obs("", day, 3.0),
        obs("LONG", day, 4.0, period_label="x" * 40),
        obs("FUTURE", date(2999, 1, 1), 5.0),
        obs("NULLVAL", day, None),  # a missing value is allowed (FRED's ".")
    ]
    result = await ingest_committed(sessionmaker, names, batch)
    assert result == BatchResult(new=2, changed=0, unchanged=0, rejected=6)

    dead = await rows(
        sessionmaker,
        "SELECT series_id, reason, payload FROM ingest_dead_letters WHERE provider = :p "
        "ORDER BY id",
        p=names.provider,
    )
    reasons = {(series or ""): reason for series, reason, _ in dead}
    assert reasons == {
        "NAN": "value is not finite",
        "NODATE": "missing obs_date",
        "": "series_id empty",
        "LONG": "period_label too long (> 32)",
        "FUTURE": "obs_date in the future beyond 3660 days",
        "GOOD": "duplicate key in batch",
    }
    assert next(p for s, _, p in dead if s == "NAN")["value"] == "nan"
    assert next(p for s, _, p in dead if s == "GOOD")["value"] == 1.0

    dlq = await rows(
        sessionmaker,
        "SELECT key, payload FROM kafka_outbox WHERE topic = :t ORDER BY id",
        t=names.dlq_topic,
    )
    assert len(dlq) == 6
    assert {payload["reason"] for _, payload in dlq} == set(reasons.values())
    assert all(payload["schema_version"] == 1 for _, payload in dlq)
    landed = await rows(
        sessionmaker,
        "SELECT series_id, value FROM external_timeseries_obs WHERE provider = :p "
        "ORDER BY series_id",
        p=names.provider,
    )
    assert [tuple(r) for r in landed] == [("GOOD", 1.5), ("NULLVAL", None)]


async def test_a_rolled_back_batch_leaves_nothing(sessionmaker: SM, names: Names) -> None:
    checkpoint = CheckpointUpdate("DGS10", date(2020, 1, 5), None, {"page": 2})
    with pytest.raises(RuntimeError, match="crash"):
        async with sessionmaker() as session:
            await ingest_batch(
                session,
                tenant_id="default",
                provider=names.provider,
                rows=[*daily("DGS10", 5), obs("BAD", date(2020, 1, 1), float("inf"))],
                run_id=uuid.uuid4(),
                checkpoints=[checkpoint],
                topic=names.topic,
                dlq_topic=names.dlq_topic,
            )
            raise RuntimeError("crash before commit")
    assert await counts(sessionmaker, names.provider) == {"obs": 0, "outbox": 0, "dead": 0}
    assert await _checkpoint(sessionmaker, names.provider, "DGS10") is None

    # The rerun writes the batch exactly once.
    result = await ingest_committed(
        sessionmaker, names, daily("DGS10", 5), checkpoints=[checkpoint]
    )
    assert result.new == 5
    assert await counts(sessionmaker, names.provider) == {"obs": 5, "outbox": 5, "dead": 0}
    assert await _checkpoint(sessionmaker, names.provider, "DGS10") == (
        date(2020, 1, 5),
        {"page": 2},
    )


async def test_checkpoint_advances_only_on_commit_and_never_backwards(
    sessionmaker: SM, names: Names
) -> None:
    stamp = datetime(2024, 9, 23, 12, tzinfo=UTC)
    first = CheckpointUpdate("S1", date(2024, 9, 20), stamp, {"offset": 10})
    async with sessionmaker() as session:
        await ingest_batch(
            session,
            tenant_id="default",
            provider=names.provider,
            rows=[obs("S1", date(2024, 9, 20), 1.0)],
            run_id=uuid.uuid4(),
            checkpoints=[first],
            topic=names.topic,
            dlq_topic=names.dlq_topic,
        )
        assert await _checkpoint(sessionmaker, names.provider, "S1") is None  # not committed
        await session.commit()
    assert await _checkpoint(sessionmaker, names.provider, "S1") == (
        date(2024, 9, 20),
        {"offset": 10},
    )
    backfill = CheckpointUpdate("S1", date(2020, 1, 1), None, {"offset": 0})
    await ingest_committed(sessionmaker, names, [], checkpoints=[backfill])
    assert await _checkpoint(sessionmaker, names.provider, "S1") == (
        date(2024, 9, 20),
        {"offset": 0},
    )


@pytest.mark.parametrize(
    "batch",
    [
        [{"series_id": "DICT", "obs_date": "2020-01-01"}],
        [obs("OK", date(2020, 1, 1), 1.0), "not a row"],
    ],
)
async def test_a_malformed_batch_fails_cleanly(
    sessionmaker: SM, names: Names, batch: list[Any]
) -> None:
    checkpoint = CheckpointUpdate("OK", date(2020, 1, 1))
    with pytest.raises(MalformedBatch):
        await ingest_committed(sessionmaker, names, batch, checkpoints=[checkpoint])
    assert await counts(sessionmaker, names.provider) == {"obs": 0, "outbox": 0, "dead": 0}
    assert await _checkpoint(sessionmaker, names.provider, "OK") is None


async def test_a_malformed_checkpoint_fails_the_batch(sessionmaker: SM, names: Names) -> None:
    naive = CheckpointUpdate("S", date(2020, 1, 1), datetime(2020, 1, 1), {})
    with pytest.raises(MalformedBatch, match="timezone-aware"):
        await ingest_committed(sessionmaker, names, daily("S", 3), checkpoints=[naive])
    assert await counts(sessionmaker, names.provider) == {"obs": 0, "outbox": 0, "dead": 0}


async def test_twenty_thousand_rows_in_one_batch(sessionmaker: SM, names: Names) -> None:
    batch = [r for i in range(20) for r in daily(f"SERIES{i}", 1000)]
    result = await ingest_committed(sessionmaker, names, batch)
    assert result == BatchResult(new=20_000, changed=0, unchanged=0, rejected=0)
    assert await counts(sessionmaker, names.provider) == {
        "obs": 20_000,
        "outbox": 20_000,
        "dead": 0,
    }
    again = await ingest_committed(sessionmaker, names, batch)
    assert again.unchanged == 20_000


async def test_two_batches_in_one_transaction(sessionmaker: SM, names: Names) -> None:
    async with sessionmaker() as session:
        for series in ("A", "B"):
            await ingest_batch(
                session,
                tenant_id="default",
                provider=names.provider,
                rows=daily(series, 3),
                run_id=uuid.uuid4(),
                topic=names.topic,
                dlq_topic=names.dlq_topic,
            )
        await session.commit()
    assert await counts(sessionmaker, names.provider) == {"obs": 6, "outbox": 6, "dead": 0}


async def _checkpoint(sessionmaker: SM, provider: str, series_id: str) -> Any:
    found = await rows(
        sessionmaker,
        "SELECT last_obs_date, cursor FROM ingest_checkpoints "
        "WHERE provider = :p AND series_id = :s",
        p=provider,
        s=series_id,
    )
    return tuple(found[0]) if found else None


def test_payload_is_json() -> None:
    row = RawObservation("S", "2020", date(2020, 1, 1), float("inf"), "inf", None, {})
    assert json.loads(json.dumps(row.as_payload()))["value"] == "inf"


async def test_metrics_count_committed_batches_only(sessionmaker: SM, names: Names) -> None:
    def ingested(kind: str) -> float:
        labels = {"provider": names.provider, "kind": kind}
        return REGISTRY.get_sample_value("aurum_ingest_rows_total", labels) or 0.0

    with pytest.raises(RuntimeError):
        async with sessionmaker() as session:
            await ingest_batch(
                session,
                tenant_id="default",
                provider=names.provider,
                rows=daily("M", 4),
                run_id=uuid.uuid4(),
                topic=names.topic,
                dlq_topic=names.dlq_topic,
            )
            raise RuntimeError("rolled back")
    assert ingested("new") == 0
    await ingest_committed(sessionmaker, names, [*daily("M", 4), obs("", date(2020, 1, 1), 1.0)])
    await ingest_committed(sessionmaker, names, daily("M", 4))
    assert (ingested("new"), ingested("unchanged"), ingested("rejected")) == (4, 4, 1)


async def test_text_with_copy_control_characters_lands_unchanged(
    sessionmaker: SM, names: Names
) -> None:
    """Rows go to staging as COPY text formatted by the pipeline: a backslash, tab, newline or
    carriage return in any text column, and in the metadata, arrives as it was sent."""
    tricky = "a\\b\tc\nd\re \\N"
    batch = [
        obs("ESC\\1", date(2021, 1, 1), -0.0, raw_value="1\t0", units=tricky,
            period_label="2021\\Q1", metadata={"note": tricky, "n": "\\"}),
        obs("ESC2", date(2021, 1, 2), 1e-300, raw_value=None, units=None),
        obs("ESC3", date(2021, 1, 3), 12345678901234.5),
    ]  # fmt: skip
    result = await ingest_committed(sessionmaker, names, batch)
    assert result.new == 3
    landed = await rows(
        sessionmaker,
        "SELECT series_id, period_label, value, raw_value, units, metadata "
        "FROM external_timeseries_obs WHERE provider = :p ORDER BY obs_date",
        p=names.provider,
    )
    assert [tuple(r) for r in landed] == [
        ("ESC\\1", "2021\\Q1", -0.0, "1\t0", tricky, {"note": tricky, "n": "\\"}),
        ("ESC2", "2021-01-02", 1e-300, None, None, {}),
        ("ESC3", "2021-01-03", 12345678901234.5, "12345678901234.5", "Percent", {}),
    ]
