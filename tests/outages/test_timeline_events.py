"""Breaker and health transitions land on the provider's open outage as timeline events, from
the running service's own breaker and health view; with no outage open nothing is written,
and a database that fails the write never fails the transition's caller."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import col

from app.db.engine import build_sessionmaker
from app.db.models import OutageEvent, OutageStatus, ProviderOutage
from app.health import status_store
from app.health.derive import Verdict
from app.health.outage_recorder import record_transitions
from app.outages.timeline import build_timeline
from app.resilience.breaker import CircuitBreaker
from app.resilience.config import BreakerConfig
from app.resilience.outage_recorder import breaker_listener
from app.sandbox.server import SandboxServer
from app.settings import Settings
from tests.support.outage import outage_of


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(database_url)
    yield build_sessionmaker(engine)
    await engine.dispose()


async def _open(sessionmaker: async_sessionmaker[AsyncSession], provider: str) -> uuid.UUID:
    outage = ProviderOutage(provider=provider, reason="drill", declared_by="jwt:oncall")
    async with sessionmaker() as session, session.begin():
        session.add(outage)
    return outage.id


async def _events(
    sessionmaker: async_sessionmaker[AsyncSession], outage_id: uuid.UUID
) -> list[OutageEvent]:
    async with sessionmaker() as session:
        query = select(OutageEvent).where(col(OutageEvent.outage_id) == outage_id)
        return list((await session.execute(query.order_by(col(OutageEvent.id)))).scalars())


async def test_breaker_transitions_on_the_open_outage_only(
    redis_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    provider, quiet = f"p{uuid.uuid4().hex[:8]}", f"q{uuid.uuid4().hex[:8]}"
    breakers = [CircuitBreaker(redis, name, BreakerConfig(), replica="test")
                for name in (provider, quiet)]  # fmt: skip
    for breaker in breakers:
        breaker.on_transition = breaker_listener(sessionmaker)
    outage_id = await _open(sessionmaker, provider)
    try:
        for breaker in breakers:
            await breaker.force_open(actor="jwt:oncall", reason="drill")
            await breaker.reset(actor="jwt:oncall", reason="back")
        events = await _events(sessionmaker, outage_id)
        assert [(e.kind, e.detail["from"], e.detail["to"]) for e in events] == [
            ("breaker", "closed", "forced_open"),
            ("breaker", "forced_open", "closed"),
        ]
        assert "drill" in events[0].summary
        async with sessionmaker() as session:
            rows = await session.execute(select(col(OutageEvent.outage_id)))
            assert set(rows.scalars()) <= {outage_id}  # nothing for `quiet`

        # PostgreSQL unreachable: the transition still happens, the write is only logged.
        dead = build_sessionmaker(
            create_async_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
        )
        breakers[0].on_transition = breaker_listener(dead)
        assert (await breakers[0].force_open(actor="jwt:oncall"))["state"] == "forced_open"
        await breakers[0].reset(actor="jwt:oncall")
    finally:
        for breaker in breakers:
            await breaker.aclose()
        await redis.aclose()
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(ProviderOutage).where(col(ProviderOutage.id) == outage_id))


async def test_health_transitions_judged_by_the_value_replaced(
    redis_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    provider = f"p{uuid.uuid4().hex[:8]}"
    outage_id = await _open(sessionmaker, provider)
    healthy = Verdict("healthy", "all good", [])
    down = Verdict("down", "circuit breaker open", ["circuit breaker open"])
    try:
        assert await status_store.write(redis, provider, healthy) is None  # a first write
        assert await status_store.write(redis, provider, healthy) is None  # unchanged
        moved = await status_store.write(redis, provider, down)
        assert moved is not None and (moved.before, moved.verdict.status) == ("healthy", "down")
        # Two views that read the same old value: the one that writes second sees no change.
        stored = {provider: await redis.get(status_store.status_key(provider))}
        back = {provider: healthy}
        first = await status_store.write_changed(redis, stored, back)
        second = await status_store.write_changed(redis, stored, back)
        assert [t.before for t in first] == ["down"] and second == []
        await record_transitions(sessionmaker, [moved, *first, *second, None])
        events = await _events(sessionmaker, outage_id)
        assert [(e.kind, e.detail["from"], e.detail["to"]) for e in events] == [
            ("health", "healthy", "down"),
            ("health", "down", "healthy"),
        ]
        assert events[0].summary == "health healthy -> down: circuit breaker open"
    finally:
        await redis.delete(status_store.status_key(provider))
        await redis.aclose()
        async with sessionmaker() as session, session.begin():
            await session.execute(delete(ProviderOutage).where(col(ProviderOutage.id) == outage_id))


async def test_the_service_records_its_breaker_and_health_transitions(
    settings: Settings,
    database_url: str,
    redis_url: str,
    sandbox: SandboxServer,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    series = "electricity/retail-sales:monthly:CO/RES:price"
    async with outage_of(
        "eia", series, settings=settings, database_url=database_url, redis_url=redis_url,
        sandbox=sandbox, tmp_path=tmp_path,
    ) as outage:  # fmt: skip
        before = await outage.health()
        outage_id = await _open(sessionmaker, "eia")
        try:
            outage.fault()
            assert (await outage.run())["status"] == "failed"
            after = await outage.health()
            assert after["breaker"]["state"] == "open"
            assert after["status"] != before["status"]
            async with sessionmaker() as session:
                row = await session.get(ProviderOutage, outage_id)
                assert row is not None and row.status == OutageStatus.OPEN
                timeline = await build_timeline(session, row)
            kinds = [e["kind"] for e in timeline]
            assert "breaker" in kinds and "health" in kinds and "run" in kinds
            breaker = next(e for e in timeline if e["kind"] == "breaker")
            assert breaker["detail"]["to"] == "open"
            health = next(e for e in timeline if e["kind"] == "health")
            assert health["detail"] == health["detail"] | {
                "from": before["status"],
                "to": after["status"],
            }
        finally:
            async with sessionmaker() as session, session.begin():
                await session.execute(
                    delete(ProviderOutage).where(col(ProviderOutage.id) == outage_id)
                )
