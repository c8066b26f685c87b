"""Row builders and read-back queries shared by the ingest tests."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.ingest.pipeline import ingest_batch
from app.ingest.rows import BatchResult, RawObservation
from tests.ingest.conftest import Names


async def ingest(
    session: AsyncSession, names: Names, batch: list[Any], **kwargs: Any
) -> BatchResult:
    """One batch for the test's provider, in the session's transaction (not committed)."""
    return await ingest_batch(
        session,
        tenant_id="default",
        provider=names.provider,
        rows=batch,
        run_id=uuid.uuid4(),
        topic=names.topic,
        dlq_topic=names.dlq_topic,
        **kwargs,
    )


async def ingest_committed(
    sessionmaker: async_sessionmaker[AsyncSession], names: Names, batch: list[Any], **kwargs: Any
) -> BatchResult:
    """One batch for the test's provider, committed."""
    async with sessionmaker() as session:
        result = await ingest(session, names, batch, **kwargs)
        await session.commit()
    return result


def obs(series_id: str, day: date, value: float | None, **extra: Any) -> RawObservation:
    fields: dict[str, Any] = {
        "series_id": series_id,
        "period_label": day.isoformat(),
        "obs_date": day,
        "value": value,
        "raw_value": None if value is None else repr(value),
        "units": "Percent",
        "metadata": {},
    }
    fields.update(extra)
    return RawObservation(**fields)


def daily(series_id: str, count: int, start: date = date(2020, 1, 1)) -> list[RawObservation]:
    return [obs(series_id, start + timedelta(days=i), float(i)) for i in range(count)]


async def scalar(sessionmaker: async_sessionmaker[AsyncSession], sql: str, **params: Any) -> Any:
    async with sessionmaker() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def rows(
    sessionmaker: async_sessionmaker[AsyncSession], sql: str, **params: Any
) -> list[Any]:
    async with sessionmaker() as session:
        return list((await session.execute(text(sql), params)).all())


async def counts(sessionmaker: async_sessionmaker[AsyncSession], provider: str) -> dict[str, int]:
    """Observations, outbox rows (both topics) and dead letters written for a provider."""
    return {
        "obs": await scalar(
            sessionmaker,
            "SELECT count(*) FROM external_timeseries_obs WHERE provider = :p",
            p=provider,
        ),
        "outbox": await scalar(
            sessionmaker,
            # Observations published: a schema-2 message carries several, a DLQ message one.
            "SELECT coalesce(sum(CASE WHEN payload::jsonb ? 'observations' "
            "THEN json_array_length(payload->'observations') ELSE 1 END), 0) "
            "FROM kafka_outbox WHERE payload->>'provider' = :p",
            p=provider,
        ),
        "dead": await scalar(
            sessionmaker, "SELECT count(*) FROM ingest_dead_letters WHERE provider = :p", p=provider
        ),
    }
