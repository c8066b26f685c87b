"""A breaker closing after being open marks the provider's recovery in PostgreSQL (the next
full collection re-reads revision windows); a breaker that was only disabled does not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.db.engine import build_sessionmaker
from app.db.repositories import recoveries
from app.resilience.breaker import CircuitBreaker
from app.resilience.config import BreakerConfig
from app.resilience.recovery import breaker_listener


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(database_url)
    yield build_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def breaker(
    redis_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[CircuitBreaker]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    config = BreakerConfig(failure_threshold=1, open_seconds=0.2, success_threshold=1)
    made = CircuitBreaker(redis, f"p{uuid.uuid4().hex[:8]}", config, replica="test")
    made.on_transition = breaker_listener(sessionmaker)
    yield made
    await made.aclose()
    await redis.aclose()


async def _pending(sessionmaker: async_sessionmaker[AsyncSession], provider: str) -> bool:
    async with sessionmaker() as session:
        return await recoveries.pending(session, provider) is not None


async def test_closing_after_open_marks_a_recovery(
    breaker: CircuitBreaker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await breaker.record_failure("HTTP 503", await breaker.before_call())
    assert (await breaker.snapshot())["state"] == "open"
    assert not await _pending(sessionmaker, breaker.provider)
    await asyncio.sleep(0.25)
    await breaker.record_success(await breaker.before_call())  # the probe closes it
    assert (await breaker.snapshot())["state"] == "closed"
    async with sessionmaker() as session:
        marker = await recoveries.pending(session, breaker.provider)
    assert marker is not None and "half_open -> closed" in (marker.reason or "")
    async with sessionmaker() as session, session.begin():
        assert await recoveries.consume(session, breaker.provider, marked_at=marker.marked_at)
    assert not await _pending(sessionmaker, breaker.provider)


async def test_a_disabled_breaker_reset_marks_nothing(
    breaker: CircuitBreaker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await breaker.disable(actor="test")
    await breaker.reset(actor="test")
    assert not await _pending(sessionmaker, breaker.provider)


async def test_a_recovery_marked_during_a_run_outlives_it(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    provider = f"p{uuid.uuid4().hex[:8]}"
    async with sessionmaker() as session, session.begin():
        await recoveries.mark(session, provider, reason="first")
    async with sessionmaker() as session:
        read = await recoveries.pending(session, provider)
    assert read is not None
    async with sessionmaker() as session, session.begin():
        await recoveries.mark(session, provider, reason="second")  # while the run ran
    async with sessionmaker() as session, session.begin():
        assert not await recoveries.consume(session, provider, marked_at=read.marked_at)
    async with sessionmaker() as session:
        again = await recoveries.pending(session, provider)
    assert again is not None and again.reason == "second"
    assert again.pending_since == read.pending_since
    async with sessionmaker() as session, session.begin():
        assert await recoveries.consume(session, provider, marked_at=again.marked_at)
