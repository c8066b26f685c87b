"""The outbound rate limiter spaces a provider's requests in real time, shares its budget,
adaptive state and override between instances through Redis, and keeps limiting at its share
of the rate when Redis is unreachable. High rates keep each test well under two seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from app.errors import InvalidInput, ServiceUnavailable
from app.resilience.config import RateConfig
from app.resilience.limiter import OutboundRateLimiter, RateLimitWaitExceeded
from tests.resilience.conftest import SpareRedis

FAST = RateConfig(requests_per_second=100, burst=1, recover_after_seconds=0.2, recover_step=0.25)


def limiter(
    redis: Redis,
    provider: str,
    rate: RateConfig = FAST,
    *,
    credential: str = "default",
    replicas: int = 1,
) -> OutboundRateLimiter:
    return OutboundRateLimiter(
        redis, provider=provider, rate=rate, credential=credential, replicas=replicas
    )


async def timed(acquire: Callable[[], Awaitable[float]], count: int) -> tuple[float, list[float]]:
    """(seconds taken, each call's reported wait) for `count` sequential calls."""
    started = time.monotonic()
    waits = [await acquire() for _ in range(count)]
    return time.monotonic() - started, waits


async def test_requests_are_spaced_at_the_rate_after_the_burst(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    rate = RateConfig(requests_per_second=100, burst=5)
    lim = limiter(limiter_redis, limiter_provider, rate)
    elapsed, waits = await timed(lim.acquire, 25)
    assert waits[:5] == [0.0] * 5  # the burst goes at once
    # 20 more at 100/s (spacing widened by the 2 % margin): about 0.2 s. Whether a given
    # call waits depends on how long the previous round trip took (a slow machine's calls
    # may find their slot already due), so the rate is checked on the total, not per call.
    assert sum(waits[5:]) > 0 or elapsed >= 0.2
    assert 0.18 <= elapsed < 1.0, elapsed
    bucket = f"resilience:limiter:{limiter_provider}:default"
    assert 0 < await limiter_redis.pttl(bucket) <= 2000


async def test_two_instances_share_one_budget(limiter_redis: Redis, limiter_provider: str) -> None:
    a = limiter(limiter_redis, limiter_provider)
    b = limiter(limiter_redis, limiter_provider)
    started = time.monotonic()
    waits = await asyncio.gather(*(lim.acquire() for lim in (a, b) for _ in range(10)))
    elapsed = time.monotonic() - started
    # 20 requests at 100/s in all, not 10 per instance at 100/s each (0.09 s).
    assert 0.18 <= elapsed < 0.8, elapsed
    # Someone waited (how long each did depends on how long the round trips took), and the
    # first went at once.
    assert 0 < max(waits) < 0.8
    assert sorted(waits)[:1] == [0.0]


async def test_credentials_have_separate_budgets(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    slow = RateConfig(requests_per_second=2, burst=1)
    first = limiter(limiter_redis, limiter_provider, slow, credential="key-a")
    second = limiter(limiter_redis, limiter_provider, slow, credential="key-b")
    assert await first.acquire() == 0.0
    assert await second.acquire() == 0.0


async def test_a_wait_beyond_max_wait_raises_and_reserves_nothing(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    lim = limiter(limiter_redis, limiter_provider, RateConfig(requests_per_second=10, burst=1))
    await lim.acquire()
    with pytest.raises(RateLimitWaitExceeded) as refused:
        await lim.acquire(max_wait=0.01)
    assert refused.value.status_code == 429
    assert refused.value.details["provider"] == limiter_provider
    assert 0.05 < refused.value.details["wait_seconds"] <= 0.11
    assert "Retry-After" in refused.value.headers
    # The refused call took no slot: the next one waits one interval, not two.
    waited = await lim.acquire(max_wait=1)
    assert 0.05 < waited <= 0.11


async def test_throttle_factor_spaces_requests_further(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    lim = limiter(limiter_redis, limiter_provider)
    elapsed, _ = await timed(lambda: lim.acquire(throttle_factor=0.5), 6)
    assert 0.09 <= elapsed < 0.5, elapsed  # 5 intervals at 50/s, not at 100/s (0.05 s)
    with pytest.raises(ValueError):
        await lim.acquire(throttle_factor=0)


async def test_throttling_cuts_the_rate_everywhere_and_quiet_time_restores_it(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    a = limiter(limiter_redis, limiter_provider)
    b = limiter(limiter_redis, limiter_provider)
    await a.on_throttled()
    await a.on_throttled()  # the same episode: cut once
    state = await b.state()
    assert state["adaptive"]["multiplier"] == 0.5
    assert state["effective_requests_per_second"] == 50.0
    assert state["adaptive"]["last_throttled_at"] is not None
    adaptive_key = f"resilience:adaptive:{limiter_provider}:default"
    assert float(await limiter_redis.hget(adaptive_key, "multiplier")) == 0.5  # type: ignore[arg-type]

    await a.on_success()  # too early: still cut
    assert (await a.state())["adaptive"]["multiplier"] == 0.5

    elapsed, _ = await timed(b.acquire, 11)
    assert elapsed >= 0.18, elapsed  # 10 intervals at 50/s

    await asyncio.sleep(max(0.0, 0.25 - elapsed))
    await a.on_success()
    await a.on_success()  # one step per quiet period
    assert (await b.state())["adaptive"]["multiplier"] == 0.75
    await asyncio.sleep(0.25)
    await b.on_success()
    state = await a.state()
    assert state["adaptive"]["multiplier"] == 1.0
    assert state["effective_requests_per_second"] == 100.0


async def test_the_rate_never_drops_below_its_floor(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    rate = RateConfig(requests_per_second=100, decrease_factor=0.1, min_fraction=0.2)
    lim = limiter(limiter_redis, limiter_provider, rate)
    await lim.on_throttled()
    assert (await lim.state())["effective_requests_per_second"] == pytest.approx(20.0)


async def test_retry_after_blocks_another_instance(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    a = limiter(limiter_redis, limiter_provider)
    b = limiter(limiter_redis, limiter_provider)
    await a.on_throttled(retry_after=0.4)
    assert (await b.state())["adaptive"]["blocked_until"] is not None
    with pytest.raises(RateLimitWaitExceeded):
        await b.acquire(max_wait=0.1)
    started = time.monotonic()
    waited = await b.acquire()
    assert 0.25 <= waited <= 0.41
    assert time.monotonic() - started >= 0.25


async def test_retry_after_blocks_even_without_adaptation(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    rate = RateConfig(requests_per_second=100, adaptive=False)
    lim = limiter(limiter_redis, limiter_provider, rate)
    await lim.on_throttled(retry_after=0.2)
    assert (await lim.state())["adaptive"]["multiplier"] == 1.0
    assert await lim.acquire() >= 0.1


async def test_an_override_applies_to_another_instance_until_cleared(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    a = limiter(limiter_redis, limiter_provider)
    b = limiter(limiter_redis, limiter_provider, credential="other")  # same provider
    await a.set_rate(20, 2)
    state = await b.state()
    assert state["override"] == {"requests_per_second": 20.0, "burst": 2}
    assert state["effective_requests_per_second"] == 20.0
    assert state["configured"] == {"requests_per_second": 100, "burst": 1}
    _, waits = await timed(b.acquire, 3)
    assert waits[:2] == [0.0, 0.0]
    assert 0.04 < waits[2] <= 0.06  # 20/s after a burst of 2
    assert await limiter_redis.hgetall(f"resilience:overrides:{limiter_provider}") == {
        "requests_per_second": "20.0",
        "burst": "2",
    }
    await a.set_rate(None, None)
    state = await b.state()
    assert state["override"] is None
    assert state["effective_requests_per_second"] == 100.0
    with pytest.raises(InvalidInput):
        await a.set_rate(0)


async def test_tokens_available_follow_the_bucket(
    limiter_redis: Redis, limiter_provider: str
) -> None:
    lim = limiter(limiter_redis, limiter_provider, RateConfig(requests_per_second=10, burst=5))
    state = await lim.state()
    assert state["tokens_available"] == 5.0
    assert state["degraded"] is False
    for _ in range(5):
        await lim.acquire()
    assert (await lim.state())["tokens_available"] < 1.0


def _fallbacks(provider: str) -> float:
    sample = REGISTRY.get_sample_value(
        "aurum_external_ratelimit_fallback_total", {"provider": provider}
    )
    return sample or 0.0


async def test_unreachable_redis_limits_in_memory_at_this_replicas_share(
    limiter_spare_redis: SpareRedis, limiter_provider: str
) -> None:
    dead = limiter_spare_redis.client()
    rate = RateConfig(requests_per_second=100, burst=4)
    lim = limiter(dead, limiter_provider, rate, replicas=2)
    try:
        elapsed, waits = await timed(lim.acquire, 12)
        assert lim.degraded
        assert waits[:2] == [0.0, 0.0]  # burst 4 / 2 replicas
        assert waits[2] > 0
        assert 0.18 <= elapsed < 0.8, elapsed  # 10 intervals at 50/s
        assert _fallbacks(limiter_provider) == 12
        await lim.on_throttled()
        await lim.on_success()
        state = await lim.state()
        assert state["degraded"] is True
        assert "ConnectionError" in state["degraded_reason"]
        assert state["fallback_share"] == {"requests_per_second": 25.0, "burst": 2}
        with pytest.raises(ServiceUnavailable):
            await lim.set_rate(5)
    finally:
        await lim.aclose()
        await dead.aclose()


async def test_the_limiter_returns_to_redis_when_it_answers(
    limiter_spare_redis: SpareRedis, limiter_provider: str
) -> None:
    client = limiter_spare_redis.client()
    lim = limiter(client, limiter_provider)
    try:
        await lim.acquire()
        assert lim.degraded
        limiter_spare_redis.start()
        deadline = time.monotonic() + 5
        while lim.degraded and time.monotonic() < deadline:
            await lim.acquire()  # starts the probe, at most once a second
            await asyncio.sleep(0.05)
        assert not lim.degraded
        await lim.acquire()
        assert await client.exists(f"resilience:limiter:{limiter_provider}:default")
    finally:
        await lim.aclose()
        await client.aclose()
