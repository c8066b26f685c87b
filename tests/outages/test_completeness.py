"""The completeness check after an outage's backfill: the provider's window re-read from the
sandbox through the collectors and a guarded client, nothing stored, compared with what the
backfill stored. Complete right after the backfill; a revision the provider publishes later,
or a stored row that went missing, makes it incomplete, counted per series."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import col

from app.db.engine import build_sessionmaker
from app.db.models import IngestCheckpoint, JobRun, Observation, OutageEvent, ProviderOutage
from app.jobs.collect import CollectionRequest, collect_provider
from app.outages import completeness
from app.outages.completeness import ProviderSource, check_outage, check_pending
from app.providers.registry import collector_for
from app.resilience.breaker import CircuitBreaker
from app.resilience.client import GuardedClient
from app.resilience.config import BreakerConfig, RateConfig, ResilienceConfig, RetryConfig
from app.sandbox.server import SandboxServer
from tests.support.collecting import guarded_client

FRED = ["UNRATE", "GDP"]
EIA = ["electricity/retail-sales:monthly:CO/RES:price", "petroleum/pri/spt:weekly:RBRTE:value"]


def _key(provider: str, series_id: str) -> str:
    """The sandbox's key of a series id (EIA's drops the data column)."""
    return series_id.rsplit(":", 1)[0] if provider == "eia" else series_id


@dataclass
class Backfilled:
    provider: str
    tenant: str
    outage: ProviderOutage
    run: JobRun
    source: ProviderSource


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(database_url)
    made = build_sessionmaker(engine)
    yield made
    async with made() as session, session.begin():
        await session.execute(delete(ProviderOutage))
        await session.execute(delete(JobRun))
    await engine.dispose()


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[dict[str, GuardedClient]]:
    made: dict[str, GuardedClient] = {}
    contexts = []
    for provider in ("fred", "eia"):
        config = ResilienceConfig(
            provider=provider, rate=RateConfig(requests_per_second=500, burst=50),
            retry=RetryConfig(attempts=1, base_delay_seconds=0, timeout_seconds=10),
            breaker=BreakerConfig(failure_threshold=100),
        )  # fmt: skip
        context = guarded_client(redis_url, config)
        made[provider] = await context.__aenter__()
        contexts.append(context)
    yield made
    for context in contexts:
        await context.__aexit__(None, None, None)


async def _backfilled(
    provider: str,
    datasets: list[str],
    *,
    sandbox: SandboxServer,
    client: GuardedClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    start: date,
) -> Backfilled:
    """The outage's backfill as the service runs it (its collector into PostgreSQL, for a
    tenant of the test's own), its run record, and the resolved outage pointing at it."""
    tenant = f"t{uuid.uuid4().hex[:8]}"
    collector = collector_for(provider)
    assert collector is not None
    end = datetime.now(UTC).date()
    base_url = sandbox.base_urls()[provider]
    run = JobRun(
        job_id=f"ingest.{provider}", provider=provider, trigger="backfill", status="running",
        parameters={"datasets": datasets, "start": start.isoformat(), "end": end.isoformat()},
    )  # fmt: skip
    async with sessionmaker() as session, session.begin():
        session.add(run)
    summary = await collect_provider(
        sessionmaker=sessionmaker, collector=collector, client=client, tenant_id=tenant,
        request=CollectionRequest(
            provider=provider, base_url=base_url, credential="sandbox", datasets=datasets,
            topic="t", dlq_topic="d", batch_size=1000, start=start, end=end, publish=False,
        ),
        run_id=run.id,
    )  # fmt: skip
    assert summary.rows_new > 0 and summary.rows_rejected == 0
    now = datetime.now(UTC)
    async with sessionmaker() as session, session.begin():
        run.status, run.finished_at, run.rows_new = "succeeded", now, summary.rows_new
        session.add(run)
        outage = ProviderOutage(
            provider=provider, status="resolved", reason="5xx", declared_by="jwt:oncall",
            declared_at=now - timedelta(hours=1), resolved_at=now, resolved_by="jwt:oncall",
            backfill_run_id=run.id, window_start=datetime.combine(start, datetime.min.time(), UTC),
            window_end=now,
        )  # fmt: skip
        session.add(outage)
    source = ProviderSource(
        collector=collector, client=client, base_url=base_url, credential="sandbox",
        datasets=datasets, mode="sandbox",
    )  # fmt: skip
    return Backfilled(provider, tenant, outage, run, source)


async def _stored(sessionmaker: async_sessionmaker[AsyncSession], outage_id: uuid.UUID) -> Any:
    async with sessionmaker() as session:
        outage = await session.get(ProviderOutage, outage_id)
        assert outage is not None
        query = select(OutageEvent).where(col(OutageEvent.outage_id) == outage_id)
        events = list((await session.execute(query.order_by(col(OutageEvent.id)))).scalars())
    return outage.completeness, events


async def _cleanup(sessionmaker: async_sessionmaker[AsyncSession], tenant: str) -> None:
    async with sessionmaker() as session, session.begin():
        for table in (Observation, IngestCheckpoint):
            await session.execute(delete(table).where(col(table.tenant_id) == tenant))


@pytest.mark.parametrize(("provider", "datasets"), [("fred", FRED), ("eia", EIA)])
async def test_complete_after_the_backfill_then_a_revision_makes_it_incomplete(
    provider: str,
    datasets: list[str],
    sandbox: SandboxServer,
    clients: dict[str, GuardedClient],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    start = date(datetime.now(UTC).year - 3, 1, 1)
    done = await _backfilled(
        provider, datasets, sandbox=sandbox, client=clients[provider],
        sessionmaker=sessionmaker, start=start,
    )  # fmt: skip
    try:
        stats = await sandbox_requests(sandbox)
        result = await check_outage(sessionmaker, done.outage, done.source, tenant_id=done.tenant)
        assert result is not None
        assert result["complete"] is True, result
        assert result["series_checked"] == len(datasets)
        assert result["missing"] == 0 and result["different"] == 0
        assert result["window_start"] == start.isoformat()
        assert await sandbox_requests(sandbox) > stats  # it did re-read the provider
        assert all(d["served"] > 0 for d in result["details"])
        stored, events = await _stored(sessionmaker, done.outage.id)
        assert stored == result
        assert [e.kind for e in events] == ["completeness"]
        assert "matches the provider" in events[0].summary
        # Checked once: a second check stores nothing over it.
        again = await check_outage(sessionmaker, done.outage, done.source, tenant_id=done.tenant)
        assert again is None

        # After the backfill, the provider revises the series' newest values in place and
        # publishes a new period: a fresh check finds both.
        revised = datasets[0]
        published = sandbox.control(
            "POST", "advance", {"series": [f"{provider}:{_key(provider, revised)}"]}
        )
        (change,) = published["changed"][provider]
        async with sessionmaker() as session, session.begin():
            outage = await session.get(ProviderOutage, done.outage.id)
            assert outage is not None
            outage.completeness = None
            outage.window_end = datetime.now(UTC) + timedelta(days=1)
            session.add(outage)
        async with sessionmaker() as session:
            outage = await session.get(ProviderOutage, done.outage.id)
        assert outage is not None
        result = await check_outage(sessionmaker, outage, done.source, tenant_id=done.tenant)
        assert result is not None and result["complete"] is False
        bad = {d["series"]: d for d in result["details"]}
        assert bad[revised]["different"] == len(change["revised"]) > 0
        assert bad[revised]["missing"] == len(change["appended"])
        assert bad[datasets[1]]["missing"] == bad[datasets[1]]["different"] == 0
        assert result["details"][0]["series"] == revised  # the series at fault first
        example = bad[revised]["examples"][0]
        assert example["stored"] != example["served"]
        assert result["different"] == len(change["revised"])
    finally:
        await _cleanup(sessionmaker, done.tenant)


async def sandbox_requests(sandbox: SandboxServer) -> int:
    return int(sandbox.control("GET", "stats")["total"])


async def test_rows_missing_from_the_store_are_counted(
    sandbox: SandboxServer,
    clients: dict[str, GuardedClient],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Found by the leader's pass: one query finds the outage whose backfill succeeded."""
    start = date(datetime.now(UTC).year - 2, 1, 1)
    done = await _backfilled(
        "eia", EIA, sandbox=sandbox, client=clients["eia"], sessionmaker=sessionmaker,
        start=start,
    )  # fmt: skip
    # Not this one: its backfill failed (the report says so; there is nothing to check).
    failed = JobRun(job_id="ingest.eia", provider="eia", trigger="backfill", status="failed")
    other = ProviderOutage(
        provider="eia", status="resolved", reason="x", declared_by="jwt:oncall",
        backfill_run_id=failed.id, resolved_at=datetime.now(UTC),
    )  # fmt: skip
    async with sessionmaker() as session, session.begin():
        session.add(failed)
        await session.flush()
        session.add(other)
        gone = await session.execute(
            delete(Observation)
            .where(
                col(Observation.tenant_id) == done.tenant,
                col(Observation.series_id) == EIA[1],
                col(Observation.obs_date) >= start + timedelta(days=100),
                col(Observation.obs_date) < start + timedelta(days=200),
            )
            .returning(col(Observation.obs_date))
        )
        removed = len(gone.all())
    assert removed > 0
    asked: list[str] = []

    async def source_for(provider: str) -> ProviderSource | None:
        asked.append(provider)
        return done.source

    try:
        checked = await check_pending(sessionmaker, tenant_id=done.tenant, source_for=source_for)
        assert checked == [done.outage.id] and asked == ["eia"]
        result, _ = await _stored(sessionmaker, done.outage.id)
        assert result["complete"] is False
        assert result["missing"] == removed and result["different"] == 0
        per_series = {d["series"]: d["missing"] for d in result["details"]}
        assert per_series == {EIA[1]: removed, EIA[0]: 0}
        again = await check_pending(sessionmaker, tenant_id=done.tenant, source_for=source_for)
        assert again == []
        other_result, _ = await _stored(sessionmaker, other.id)
        assert other_result is None
    finally:
        await _cleanup(sessionmaker, done.tenant)


async def test_a_provider_that_fails_the_re_read_is_retried_then_reported(
    sandbox: SandboxServer,
    clients: dict[str, GuardedClient],
    sessionmaker: async_sessionmaker[AsyncSession],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = date(datetime.now(UTC).year - 1, 1, 1)
    done = await _backfilled(
        "fred", FRED[:1], sandbox=sandbox, client=clients["fred"], sessionmaker=sessionmaker,
        start=start,
    )  # fmt: skip
    monkeypatch.setattr(completeness, "MAX_ATTEMPTS", 2)
    sandbox.control("POST", "faults", {"kind": "status", "provider": "fred", "status": 503})
    try:
        first = await check_outage(sessionmaker, done.outage, done.source, tenant_id=done.tenant)
        assert first is None
        result, events = await _stored(sessionmaker, done.outage.id)
        assert result is None and "attempt 1 of 2" in events[0].summary
        second = await check_outage(sessionmaker, done.outage, done.source, tenant_id=done.tenant)
        assert second is not None and second["complete"] is False
        assert "after 2 attempts" in second["error"]
        result, events = await _stored(sessionmaker, done.outage.id)
        assert result == second and len(events) == 3
    finally:
        sandbox.control("DELETE", "faults")
        redis = Redis.from_url(redis_url, decode_responses=True)
        breaker = CircuitBreaker(redis, "fred", BreakerConfig())
        await breaker.reset(actor="test")
        await breaker.aclose()
        await redis.aclose()
        await _cleanup(sessionmaker, done.tenant)
