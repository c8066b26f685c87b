"""Every outage test starts and ends with no outage, no job paused, the outage flags at their
defaults and the breakers of the providers it touches closed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.support.scheduling import sql

PROVIDERS = ("fred", "eia", "noaa", "worldbank")


async def _clean(database_url: str, redis_url: str) -> None:
    sql(database_url, "DELETE FROM provider_outages")
    sql(database_url, "DELETE FROM job_pauses")
    sql(
        database_url,
        "DELETE FROM runtime_flags WHERE name IN ('external_read_cache', 'provider_fallback')",
    )
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        for provider in PROVIDERS:
            await redis.delete(f"resilience:breaker:{provider}")
    finally:
        await redis.aclose()


@pytest.fixture(autouse=True)
async def no_outages(database_url: str, redis_url: str) -> AsyncIterator[None]:
    await _clean(database_url, redis_url)
    yield
    await _clean(database_url, redis_url)
