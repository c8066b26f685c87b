"""Quotas count every attempt in the runbooks' Redis keys, stop at the limit of either window
with a message naming it, report use, level and projection, and keep counting per replica
when Redis is unreachable."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from app.errors import ServiceUnavailable
from app.resilience.config import QuotaConfig
from app.resilience.errors import QuotaExhausted
from app.resilience.quotas import ProviderQuota, QuotaLevel
from tests.resilience.conftest import SpareRedis

MORNING = datetime(2024, 3, 5, 6, 0, tzinfo=UTC)


def metric(name: str, provider: str, window: str | None = None) -> float | None:
    labels = {"provider": provider} if window is None else {"provider": provider, "window": window}
    return REGISTRY.get_sample_value(name, labels)


async def test_the_daily_limit_stops_calls_until_the_runbook_deletes_its_key(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    quota = ProviderQuota(limiter_redis, provider=limiter_provider, config=QuotaConfig(daily=3))
    for expected in (1, 2, 3):
        assert (await quota.consume()).daily.used == expected
    with pytest.raises(QuotaExhausted) as refused:
        await quota.consume()
    error = refused.value
    assert error.status_code == 429
    assert "daily quota exhausted" in error.message and "3/3" in error.message
    tomorrow = (await quota.usage()).daily.resets_at
    assert f"resets at {tomorrow:%Y-%m-%d} 00:00 UTC" in error.message
    assert error.details["window"] == "daily"
    assert (error.details["used"], error.details["limit"]) == (3, 3)
    assert error.details["resets_at"] == tomorrow.isoformat()
    assert int(error.headers["Retry-After"]) > 0
    assert metric("aurum_external_quota_exhausted_total", limiter_provider, "daily") == 1

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert await limiter_redis.delete(f"{limiter_provider}:quota:daily:{today}") == 1
    assert (await quota.consume()).daily.used == 1


async def test_both_windows_are_enforced_and_a_refusal_counts_nothing(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    quota = ProviderQuota(
        limiter_redis, provider=limiter_provider, config=QuotaConfig(daily=4, hourly=2)
    )
    ten, eleven = MORNING.replace(hour=10, minute=15), MORNING.replace(hour=11, minute=5)
    await quota.consume(now=ten)
    await quota.consume(now=ten)
    with pytest.raises(QuotaExhausted) as hourly:
        await quota.consume(now=ten)
    assert hourly.value.details["window"] == "hourly"
    assert "resets at 2024-03-05 11:00 UTC" in hourly.value.message
    usage = await quota.usage(now=ten)
    assert (usage.daily.used, usage.hourly.used) == (2, 2)  # the refused call was not counted

    usage = await quota.consume(2, now=eleven)  # a new hour; the day goes on
    assert (usage.daily.used, usage.hourly.used) == (4, 2)
    with pytest.raises(QuotaExhausted) as daily:
        await quota.consume(now=MORNING.replace(hour=12))
    assert daily.value.details["window"] == "daily"

    daily_ttl = await limiter_redis.ttl(f"{limiter_provider}:quota:daily:2024-03-05")
    hourly_ttl = await limiter_redis.ttl(f"{limiter_provider}:quota:hourly:2024-03-05-10")
    assert 86_400 < daily_ttl <= 2 * 86_400
    assert 25 * 3_600 < hourly_ttl <= 26 * 3_600  # kept a day for the per-hour view


async def test_the_days_use_is_kept_hour_by_hour(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    quota = ProviderQuota(limiter_redis, provider=limiter_provider, config=QuotaConfig(daily=100))
    await quota.consume(3, now=MORNING.replace(hour=1))
    await quota.consume(2, now=MORNING.replace(hour=4, minute=30))
    hours = await quota.hours_today(now=MORNING.replace(hour=4, minute=50))
    assert hours is not None and len(hours) == 5  # midnight to the current hour
    assert hours[0]["hour"] == "2024-03-05T00:00:00+00:00"
    assert [h["used"] for h in hours] == [0, 3, 0, 0, 2]
    assert (await quota.usage(now=MORNING.replace(hour=4))).daily.used == sum(
        h["used"] for h in hours
    )


async def test_usage_reports_levels_and_the_projected_exhaustion(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    config = QuotaConfig(daily=20, warn_ratio=0.5, critical_ratio=0.9)
    quota = ProviderQuota(limiter_redis, provider=limiter_provider, config=config)
    usage = await quota.consume(10, now=MORNING)
    daily = usage.daily
    assert (daily.used, daily.limit, daily.remaining, daily.percent) == (10, 20, 10, 50.0)
    assert daily.level is QuotaLevel.WARNING
    assert daily.resets_at == datetime(2024, 3, 6, tzinfo=UTC)
    assert usage.hourly.limit is None and usage.hourly.level is QuotaLevel.OK
    # 10 calls in the first 6 hours: the other 10 are gone 6 hours later.
    assert usage.projected_exhaustion == datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
    assert quota.throttle_factor() == 1.0
    assert usage.as_dict() == {
        "provider": limiter_provider,
        "level": "warning",
        "throttle_factor": 1.0,
        "projected_exhaustion": "2024-03-05T12:00:00+00:00",
        "degraded": False,
        "windows": {
            "daily": {
                "used": 10,
                "limit": 20,
                "remaining": 10,
                "percent": 50.0,
                "level": "warning",
                "resets_at": "2024-03-06T00:00:00+00:00",
            },
            "hourly": {
                "used": 10,
                "limit": None,
                "remaining": None,
                "percent": None,
                "level": "ok",
                "resets_at": "2024-03-05T07:00:00+00:00",
            },
        },
    }

    usage = await quota.consume(8, now=MORNING)
    assert usage.level is QuotaLevel.CRITICAL
    assert quota.throttle_factor() == 0.5  # the limiter spaces requests twice as far apart
    assert metric("aurum_external_quota_used", limiter_provider, "daily") == 18
    assert metric("aurum_external_quota_limit", limiter_provider, "daily") == 20
    assert metric("aurum_external_quota_level", limiter_provider, "daily") == 2

    late = await quota.usage(now=MORNING.replace(hour=23))
    assert late.projected_exhaustion is None  # 2 more at this pace: after midnight


async def test_reset_deletes_the_current_windows(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    quota = ProviderQuota(
        limiter_redis, provider=limiter_provider, config=QuotaConfig(daily=2, hourly=2)
    )
    await quota.consume(2)
    await quota.reset()
    usage = await quota.usage()
    assert (usage.daily.used, usage.hourly.used) == (0, 0)
    assert (await quota.consume()).daily.used == 1


async def test_unreachable_redis_counts_this_replicas_share(
    limiter_spare_redis: SpareRedis, limiter_provider: str
) -> None:
    dead = limiter_spare_redis.client()
    quota = ProviderQuota(dead, provider=limiter_provider, config=QuotaConfig(daily=4), replicas=2)
    try:
        assert (await quota.consume()).degraded
        assert quota.degraded
        await quota.consume()
        with pytest.raises(QuotaExhausted) as refused:
            await quota.consume()  # 4 / 2 replicas
        assert "this replica's share while Redis is unreachable" in refused.value.message
        assert refused.value.details["degraded"] is True
        usage = await quota.usage()
        assert usage.degraded and usage.daily.used == 2
        assert metric("aurum_external_quota_fallback_total", limiter_provider) == 3
        with pytest.raises(ServiceUnavailable):
            await quota.reset()
    finally:
        await quota.aclose()
        await dead.aclose()


async def test_what_was_counted_meanwhile_reaches_redis_when_it_answers(
    limiter_spare_redis: SpareRedis, limiter_provider: str
) -> None:
    client = limiter_spare_redis.client()
    quota = ProviderQuota(client, provider=limiter_provider, config=QuotaConfig(daily=10))
    try:
        await quota.consume(2)
        assert quota.degraded
        limiter_spare_redis.start()
        deadline = time.monotonic() + 5
        while quota.degraded and time.monotonic() < deadline:
            await quota.usage()  # starts the probe, at most once a second
            await asyncio.sleep(0.05)
        assert not quota.degraded
        usage = await quota.consume()
        assert (usage.daily.used, usage.degraded) == (3, False)
    finally:
        await quota.aclose()
        await client.aclose()
