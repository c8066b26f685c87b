"""The service's Redis client against a stalled Redis: the first call pays its timeout, the
calls after it fail at once until the cooldown ends, and then Redis is used again."""

from __future__ import annotations

import asyncio
import time

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.resilience.redis_client import build_redis
from tests.support.tcp_proxy import TcpProxy

TIMEOUT = 0.3
COOLDOWN = 1.0


async def _timed_get(redis: object, key: str) -> tuple[BaseException | None, float]:
    started = time.perf_counter()
    try:
        await redis.get(key)  # type: ignore[attr-defined]
    except (RedisConnectionError, RedisTimeoutError) as exc:
        return exc, time.perf_counter() - started
    return None, time.perf_counter() - started


async def test_a_stall_costs_one_timeout_then_calls_fail_at_once_until_the_cooldown_ends(
    redis_proxy: TcpProxy, redis_url: str
) -> None:
    redis = build_redis(redis_proxy.url_for(redis_url), timeout=TIMEOUT, cooldown=COOLDOWN)
    try:
        assert await redis.ping()
        redis_proxy.stall()
        first, first_took = await _timed_get(redis, "k")
        assert isinstance(first, RedisTimeoutError | RedisConnectionError)
        assert first_took < TIMEOUT * 2.5  # one timeout, no retry of it
        # Several calls one after another, as one request makes them: each fails at once.
        for _ in range(5):
            error, took = await _timed_get(redis, "k")
            assert isinstance(error, RedisConnectionError), error
            assert "not tried again" in str(error)
            assert took < 0.05
        redis_proxy.resume()
        await asyncio.sleep(COOLDOWN)
        error, _ = await _timed_get(redis, "k")
        assert error is None  # after the cooldown Redis is tried, and answers
    finally:
        await redis.aclose()


async def test_no_cooldown_without_a_failure(redis_proxy: TcpProxy, redis_url: str) -> None:
    redis = build_redis(redis_proxy.url_for(redis_url), timeout=TIMEOUT, cooldown=COOLDOWN)
    try:
        for _ in range(3):
            assert await redis.set("aurum:test:redis-client", "1")
        assert await redis.get("aurum:test:redis-client") == "1"
    finally:
        await redis.delete("aurum:test:redis-client")
        await redis.aclose()
