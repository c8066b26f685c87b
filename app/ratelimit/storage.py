"""`limits` async storages that count all of a request's fixed windows in one call, and the
windows of every request waiting in the same event-loop turn in one Redis round-trip.

`limits`' fixed-window strategy costs one Redis round-trip per limit (its `incr_expire` Lua
script), and one or two more per limit to learn the remaining budget and reset time for the
headers. These storages extend `limits.aio.storage.RedisStorage` and `MemoryStorage` with
`incr_windows`: the same INCRBY-then-EXPIRE-when-the-window-opens per key, over the keys
`FixedWindowRateLimiter` uses (so its `test`, `get_window_stats` and `clear` see these
counters), for all of a request's limits at once, returning each count with its reset time.

In Redis, the requests that ask during one event-loop turn are sent together as one EVALSHA:
at most one round-trip per request, and under load one for many. The client's per-command cost
(pool checkout, packing, parsing) is most of a limited request's overhead, so it is paid once
per batch. One script touches many callers' keys: this needs a single Redis (or one shard), as
the architecture has.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import NamedTuple

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# Concurrent batches each hold one connection while they count; beyond this they wait up to
# the storage timeout for one (an exhausted pool then counts as Redis being unreachable).
MAX_CONNECTIONS = 64
# Requests per script call: bounds how long one call keeps Redis busy (a few µs per key).
MAX_BATCH = 128

# KEYS: every request's keys in order. ARGV: per request, its number of limits n and then n
# pairs (window seconds, amount), shortest window first. Counting a request stops at the first
# limit it exceeds, so a refused request is not charged to its longer windows. Returns, per
# request, how many keys it counted, then each one's count and milliseconds to reset.
_INCR_WINDOWS = """
local result = {}
local k = 1
local a = 1
while a <= #ARGV do
    local n = tonumber(ARGV[a])
    local slot = #result + 1
    local counted = 0
    result[slot] = 0
    for i = 0, n - 1 do
        local key = KEYS[k + i]
        local count = redis.call("incrby", key, 1)
        if count == 1 then
            redis.call("expire", key, ARGV[a + 1 + 2 * i])
        end
        result[#result + 1] = count
        result[#result + 1] = redis.call("pttl", key)
        counted = counted + 1
        if count > tonumber(ARGV[a + 2 + 2 * i]) then
            break
        end
    end
    result[slot] = counted
    k = k + n
    a = a + 1 + 2 * n
end
return result
"""


class WindowCount(NamedTuple):
    hits: int  # in the current window, including this one
    reset_at: float  # epoch seconds when the window ends


class StoreClosed(ConnectionError):
    """The storage was closed while a request waited for its count."""


def window_key(item: RateLimitItem, rule: str, caller: str) -> str:
    """The key `FixedWindowRateLimiter.hit(item, rule, caller)` would use."""
    return item.key_for(rule, caller)


def limits_storage_uri(url: str) -> str:
    """`limits`' async URI for a Redis URL (`redis://` → `async+redis://`, `unix://` →
    `async+redis+unix://`)."""
    scheme, rest = url.split("://", 1)
    scheme = "redis+unix" if scheme.lower() == "unix" else scheme.lower()
    return f"async+{scheme}://{rest}"


# A request waiting for its counts: its keys, their limits, and where the answer goes.
_Waiting = tuple[Sequence[str], Sequence[RateLimitItem], "asyncio.Future[list[WindowCount]]"]


class SharedWindows(RedisStorage):
    """Fixed windows in Redis, shared by every replica, counted with redis-py's asyncio
    client (limits' `implementation="redispy"`) over a pool this object owns."""

    def __init__(self, url: str, *, key_prefix: str, timeout_seconds: float) -> None:
        # Our own pool (limits accepts one): short timeouts and one immediate reconnect,
        # where redis-py's default retries with backoff for seconds; and we can close it.
        self.pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1),
        )
        super().__init__(
            limits_storage_uri(url),
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix=key_prefix,
            connection_pool=self.pool,  # type: ignore[arg-type]  # handed to redis.asyncio.Redis
        )
        self.client = Redis(connection_pool=self.pool)
        self._incr_windows = self.client.register_script(_INCR_WINDOWS)
        self._pending: list[_Waiting] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def incr_windows(
        self, keys: Sequence[str], items: Sequence[RateLimitItem]
    ) -> list[WindowCount]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[WindowCount]] = loop.create_future()
        if not self._pending:
            # Sent once the loop has run every request that is ready now: they share the call.
            loop.call_soon(self._flush)
        self._pending.append((keys, items, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_BATCH):
            task = asyncio.create_task(self._send(pending[start : start + MAX_BATCH]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Waiting]) -> None:
        keys: list[str] = []
        args: list[int] = []
        for request_keys, items, _ in batch:
            args.append(len(items))
            for key, item in zip(request_keys, items, strict=True):
                keys.append(self.bridge.prefixed_key(key))
                args += (item.get_expiry(), item.amount)
        try:
            raw = await self._incr_windows(keys, args)
        except BaseException as exc:
            # Every waiting request learns of the failure (and falls back); a cancellation
            # (shutdown) still propagates.
            error = exc if isinstance(exc, Exception) else StoreClosed("rate limiter closed")
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        now = time.time()
        at = 0
        for _, _, future in batch:
            counted = int(raw[at])
            counts = [
                WindowCount(int(raw[i]), now + max(0, int(raw[i + 1])) / 1000)
                for i in range(at + 1, at + 1 + 2 * counted, 2)
            ]
            at += 1 + 2 * counted
            if not future.done():  # its request may have been cancelled meanwhile
                future.set_result(counts)

    async def ping(self) -> None:
        await self.client.ping()

    async def aclose(self) -> None:
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
        await self.pool.aclose()


class LocalWindows(MemoryStorage):
    """Fixed windows in this process: the fallback while Redis is unreachable.

    Counts in MemoryStorage's own counter and expiry maps (so its `get`, `get_expiry`, `clear`
    and `FixedWindowRateLimiter` agree), but without its `incr`, which takes a lock and starts
    a sweep of every key on each call: here expired windows are swept only when the number of
    keys has doubled since the last sweep, so a request costs O(1) however many callers."""

    MIN_SWEEP = 1024

    def __init__(self) -> None:
        super().__init__()
        self._sweep_at = self.MIN_SWEEP

    async def incr_windows(
        self, keys: Sequence[str], items: Sequence[RateLimitItem]
    ) -> list[WindowCount]:
        now = time.time()
        counts = []
        for key, item in zip(keys, items, strict=True):
            end = self.expirations.get(key)
            if end is None or end <= now:
                end = self.expirations[key] = now + item.get_expiry()
                self.storage[key] = 0
            self.storage[key] += 1
            hits = self.storage[key]
            counts.append(WindowCount(hits, end))
            if hits > item.amount:
                break
        if len(self.expirations) >= self._sweep_at:
            self._sweep(now)
        return counts

    def _sweep(self, now: float) -> None:
        for key, end in list(self.expirations.items()):
            if end <= now:
                del self.expirations[key]
                self.storage.pop(key, None)
        self._sweep_at = max(self.MIN_SWEEP, 2 * len(self.expirations))
