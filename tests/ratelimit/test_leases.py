"""Token leases: a busy caller far from its limits is mostly decided in memory, the counters in
Redis stay shared, and no replica ever lets more through than a limit allows."""

from __future__ import annotations

import asyncio
import uuid

from limits.aio.strategies import FixedWindowRateLimiter

from app.ratelimit.leases import LEASE_MAX_AGE
from app.ratelimit.limiter import RateLimiter
from app.ratelimit.rules import RuleSet


def _limiter(redis_url: str, prefix: str, default: str) -> RateLimiter:
    return RateLimiter(RuleSet.build(default, {}), storage_url=redis_url, key_prefix=prefix)


async def _counted(limiter: RateLimiter, caller: str) -> int:
    """What Redis has charged to the caller's (only) window."""
    assert limiter._shared is not None
    item = limiter.rules.default.limits[0]
    stats = await FixedWindowRateLimiter(limiter._shared).get_window_stats(item, "default", caller)
    return item.amount - stats.remaining


async def test_a_busy_caller_takes_leases_and_the_headers_still_count_down(
    redis_url: str,
) -> None:
    limiter = _limiter(redis_url, f"test:rl:{uuid.uuid4().hex[:12]}", "100000/minute")
    await limiter.open()
    try:
        rule = limiter.rules.default
        decisions = [await limiter.hit(rule, "key:busy") for _ in range(300)]
        charged = await _counted(limiter, "key:busy")
    finally:
        await limiter.close()
    assert all(decision.allowed for decision in decisions)
    # One by one, as if each had been counted in Redis on its own.
    assert [d.remaining for d in decisions] == list(range(99_999, 99_999 - 300, -1))
    # Redis was charged ahead of use (a lease), never less than what was served.
    assert charged > 300


async def test_replicas_with_leases_never_let_more_through_than_the_limit(
    redis_url: str,
) -> None:
    prefix = f"test:rl:{uuid.uuid4().hex[:12]}"
    replicas = [_limiter(redis_url, prefix, "400/minute") for _ in range(2)]
    for limiter in replicas:
        await limiter.open()
    try:

        async def caller(limiter: RateLimiter) -> list[bool]:
            return [
                (await limiter.hit(limiter.rules.default, "key:shared")).allowed for _ in range(300)
            ]

        results = await asyncio.gather(*(caller(limiter) for limiter in replicas))
        charged = await _counted(replicas[0], "key:shared")
    finally:
        for limiter in replicas:
            await limiter.close()
    allowed = sum(sum(result) for result in results)
    assert allowed <= 400
    # Under-allowing is bounded by the leases still held: each at most 1/16 of what remained.
    assert allowed >= 400 - 2 * 400 // 16
    assert charged >= allowed


async def test_unused_tokens_of_an_aged_lease_are_given_back(redis_url: str) -> None:
    limiter = _limiter(redis_url, f"test:rl:{uuid.uuid4().hex[:12]}", "100000/minute")
    await limiter.open()
    try:
        rule = limiter.rules.default
        for _ in range(200):
            await limiter.hit(rule, "key:pause")
        assert await _counted(limiter, "key:pause") > 200  # a lease is held
        await asyncio.sleep(LEASE_MAX_AGE * 1.5)
        decision = await limiter.hit(rule, "key:pause")
        assert decision.allowed
        # The refund went with the next call: Redis holds what was served plus the new lease
        # only, which the headers account for.
        charged = await _counted(limiter, "key:pause")
        held = decision.remaining - (100_000 - charged)
        assert charged - held == 201
    finally:
        await limiter.close()
