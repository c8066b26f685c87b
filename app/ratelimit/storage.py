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

# KEYS: every request's keys in order. ARGV: per request, its number of limits n, the tokens it
# asks for (1, or a lease: see leases.py), tokens it gives back from an unused lease of the
# same windows, and then n pairs (window seconds, amount), shortest window first. A lease is
# granted only as far as every window has budget left (at least 1 is counted, to refuse
# exactly as a single request would). Counting a request stops at the first limit it exceeds,
# so a refused request is not charged to its longer windows. Returns, per request, how many
# keys it counted and the tokens granted, then each key's count and milliseconds to reset.
_INCR_WINDOWS = """
local result = {}
local k = 1
local a = 1
while a <= #ARGV do
    local n = tonumber(ARGV[a])
    local want = tonumber(ARGV[a + 1])
    local refund = tonumber(ARGV[a + 2])
    local p = a + 3
    if refund > 0 then
        for i = 0, n - 1 do
            if redis.call("exists", KEYS[k + i]) == 1 then
                redis.call("decrby", KEYS[k + i], refund)
            end
        end
    end
    local grant = want
    if want > 1 then
        for i = 0, n - 1 do
            local used = tonumber(redis.call("get", KEYS[k + i]) or "0")
            local left = tonumber(ARGV[p + 1 + 2 * i]) - used
            if left < grant then
                grant = left
            end
        end
        if grant < 1 then
            grant = 1
        end
    end
    local slot = #result + 1
    local counted = 0
    result[slot] = 0
    result[slot + 1] = grant
    for i = 0, n - 1 do
        local key = KEYS[k + i]
        local count = redis.call("incrby", key, grant)
        local ttl = redis.call("pttl", key)
        if ttl < 0 then  -- the window opens now (or a refund left it at zero: still open)
            redis.call("expire", key, ARGV[p + 2 * i])
            ttl = 1000 * tonumber(ARGV[p + 2 * i])
        end
        result[#result + 1] = count
        result[#result + 1] = ttl
        counted = counted + 1
        if count > tonumber(ARGV[p + 1 + 2 * i]) then
            break
        end
    end
    result[slot] = counted
    k = k + n
    a = p + 2 * n
end
return result
"""


class WindowCount(NamedTuple):
    hits: int  # in the current window, including this one (and the rest of a lease)
    reset_at: float  # epoch seconds when the window ends


class Counted(list[WindowCount]):
    """The counts of one call, and how many tokens it was granted (1 unless a lease)."""

    granted: int = 1


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


# A request waiting for its counts: its keys, their limits, tokens wanted and given back, and
# where the answer goes.
_Waiting = tuple[Sequence[str], Sequence[RateLimitItem], int, int, "asyncio.Future[Counted]"]


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
        self,
        keys: Sequence[str],
        items: Sequence[RateLimitItem],
        *,
        want: int = 1,
        refund: int = 0,
    ) -> Counted:
        """Count one request, or take a lease of up to `want` tokens (the first is this
        request's), after giving back `refund` unused tokens of these same windows."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Counted] = loop.create_future()
        if not self._pending:
            # Sent once the loop has run every request that is ready now: they share the call.
            loop.call_soon(self._flush)
        self._pending.append((keys, items, want, refund, future))
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
        for request_keys, items, want, refund, _ in batch:
            args += (len(items), want, refund)
            for key, item in zip(request_keys, items, strict=True):
                keys.append(self.bridge.prefixed_key(key))
                args += (item.get_expiry(), item.amount)
        try:
            raw = await self._incr_windows(keys, args)
        except BaseException as exc:
            # Every waiting request learns of the failure (and falls back); a cancellation
            # (shutdown) still propagates.
            error = exc if isinstance(exc, Exception) else StoreClosed("rate limiter closed")
            for *_, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        now = time.time()
        at = 0
        for *_, future in batch:
            counted = int(raw[at])
            counts = Counted(
                WindowCount(int(raw[i]), now + max(0, int(raw[i + 1])) / 1000)
                for i in range(at + 2, at + 2 + 2 * counted, 2)
            )
            counts.granted = int(raw[at + 1])
            at += 2 + 2 * counted
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

    async def incr_windows(self, keys: Sequence[str], items: Sequence[RateLimitItem]) -> Counted:
        now = time.time()
        counts = Counted()
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
