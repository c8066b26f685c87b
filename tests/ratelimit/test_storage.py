"""The batched fixed-window storage keeps `limits`' own key layout and semantics, so its
FixedWindowRateLimiter reads (and clears) the counters the middleware writes."""

from __future__ import annotations

import asyncio
import time
import uuid

from limits.aio.strategies import FixedWindowRateLimiter

from app.ratelimit.rules import parse_limits
from app.ratelimit.storage import LocalWindows, SharedWindows, window_key


async def test_counts_are_visible_to_limits_fixed_window_strategy(redis_url: str) -> None:
    storage = SharedWindows(
        redis_url, key_prefix=f"test:rl:{uuid.uuid4().hex[:12]}", timeout_seconds=1
    )
    try:
        limits = parse_limits("2/second;5/minute")
        keys = [window_key(item, "default", "ip:192.0.2.1") for item in limits]
        first = await storage.incr_windows(keys, limits)
        second = await storage.incr_windows(keys, limits)
        third = await storage.incr_windows(keys, limits)
        assert [c.hits for c in first] == [1, 1]
        assert [c.hits for c in second] == [2, 2]
        # Over the burst: counting stops there, the minute is not charged.
        assert [c.hits for c in third] == [3]
        assert time.time() < third[0].reset_at <= time.time() + 1

        strategy = FixedWindowRateLimiter(storage)
        caller = ("default", "ip:192.0.2.1")
        minute = await strategy.get_window_stats(limits[1], *caller)
        assert minute.remaining == 3
        assert not await strategy.test(limits[0], *caller)
        await strategy.clear(limits[0], *caller)
        assert await strategy.test(limits[0], *caller)
    finally:
        await storage.aclose()


async def test_concurrent_requests_share_one_call_and_each_get_their_count(
    redis_url: str,
) -> None:
    storage = SharedWindows(
        redis_url, key_prefix=f"test:rl:{uuid.uuid4().hex[:12]}", timeout_seconds=1
    )
    try:
        limits = parse_limits("100/minute")
        same = [window_key(limits[0], "default", "key:same")]
        others = [[window_key(limits[0], "default", f"key:{n}")] for n in range(5)]
        results = await asyncio.gather(
            *(storage.incr_windows(same, limits) for _ in range(20)),
            *(storage.incr_windows(keys, limits) for keys in others),
        )
    finally:
        await storage.aclose()
    assert sorted(counts[0].hits for counts in results[:20]) == list(range(1, 21))
    assert [counts[0].hits for counts in results[20:]] == [1, 1, 1, 1, 1]


async def test_the_memory_fallback_counts_the_same_way() -> None:
    storage = LocalWindows()
    limits = parse_limits("1/second;5/minute")
    keys = [window_key(item, "default", "key:abc") for item in limits]
    assert [c.hits for c in await storage.incr_windows(keys, limits)] == [1, 1]
    assert [c.hits for c in await storage.incr_windows(keys, limits)] == [2]
