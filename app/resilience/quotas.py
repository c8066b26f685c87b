"""Daily and hourly request quotas per provider, counted in Redis by every replica.

Keys are the runbooks' own, in UTC: `<provider>:quota:daily:YYYY-MM-DD` (kept 2 days) and
`<provider>:quota:hourly:YYYY-MM-DD-HH` (kept 26 hours, so the day's use can be shown hour by
hour: `hours_today()`), so `redis-cli DEL
"fred:quota:daily:2024-01-01"` resets a window, as does `reset()` (the admin API's DELETE).

**Every attempt counts, retries included**: the guarded client calls `consume()` before each
attempt it sends, because the provider counts every request it receives.

`consume()` is one Lua script (one round-trip): it checks both windows and increments both only
if neither would pass its limit, so concurrent replicas never overshoot. At the limit it raises
QuotaExhausted (429) naming the window, its use and when it resets.

**Dynamic throttling**: `throttle_factor()` is 1.0, or 0.5 once a window is at its critical
ratio; the client passes it to `OutboundRateLimiter.acquire(throttle_factor=...)`, which then
spaces requests twice as far apart, so the remaining quota lasts longer.

**Redis down**: each replica counts in memory, allowing its share of what remained when it last
saw Redis ((limit - used) / replicas); `degraded` is True, Redis is probed once a second, and
what was counted meanwhile is added to the Redis counters when it answers again. `consume()`
never raises because Redis is down.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from app.errors import ServiceUnavailable
from app.monitoring import metrics
from app.resilience.config import QuotaConfig, ResilienceConfig
from app.resilience.errors import QuotaExhausted
from app.resilience.quota_windows import (
    CRITICAL_THROTTLE_FACTOR,
    QuotaLevel,
    QuotaUsage,
    Window,
    WindowUsage,
    hours_of_day,
    projection,
    utc,
    windows,
)
from app.resilience.redis_guard import RedisGuard, RedisUnavailable

__all__ = [
    "CRITICAL_THROTTLE_FACTOR",
    "ProviderQuota",
    "QuotaLevel",
    "QuotaUsage",
    "WindowUsage",
    "windows",
]

log = logging.getLogger(__name__)

DEFAULT_REDIS_TIMEOUT_SECONDS = 0.25

# KEYS: daily, hourly. ARGV: n, daily limit, hourly limit (-1: none), daily TTL, hourly TTL.
# Returns: refused window (0 none, 1 daily, 2 hourly), daily used, hourly used.
_CONSUME = """
local n = tonumber(ARGV[1])
local used = {tonumber(redis.call('GET', KEYS[1]) or '0'),
    tonumber(redis.call('GET', KEYS[2]) or '0')}
for i = 1, 2 do
    local limit = tonumber(ARGV[1 + i])
    if limit >= 0 and used[i] + n > limit then
        return {i, used[1], used[2]}
    end
end
for i = 1, 2 do
    used[i] = redis.call('INCRBY', KEYS[i], n)
    if redis.call('TTL', KEYS[i]) < 0 then
        redis.call('EXPIRE', KEYS[i], ARGV[3 + i])
    end
end
return {0, used[1], used[2]}
"""


class ProviderQuota:
    """A provider's daily and hourly request quotas, shared by replicas through `redis`."""

    def __init__(
        self,
        redis: Redis,
        *,
        provider: str,
        config: QuotaConfig,
        replicas: int = 1,
        redis_timeout: float = DEFAULT_REDIS_TIMEOUT_SECONDS,
    ) -> None:
        if replicas < 1:
            raise ValueError("replicas must be >= 1")
        self.provider = provider
        self.config = config
        self.replicas = replicas
        self._redis = redis
        self._consume = redis.register_script(_CONSUME)
        self._guard = RedisGuard(
            redis,
            provider=provider,
            part="quota",
            timeout=redis_timeout,
            on_recover=self._flush_local,
        )
        self._seen: dict[str, int] = {}  # window key → its count when Redis last answered
        self._pending: dict[str, int] = {}  # counted here while degraded
        self._pending_ttl: dict[str, int] = {}
        self._level = QuotaLevel.OK

    @classmethod
    def from_config(cls, redis: Redis, config: ResilienceConfig, **kwargs: Any) -> ProviderQuota:
        return cls(
            redis, provider=config.provider, config=config.quota, replicas=config.replicas, **kwargs
        )

    @property
    def degraded(self) -> bool:
        return self._guard.degraded

    def limit(self, window: str) -> int | None:
        return self.config.daily if window == "daily" else self.config.hourly

    def throttle_factor(self) -> float:
        """1.0, or CRITICAL_THROTTLE_FACTOR when the last count seen was critical or
        exhausted in either window. No I/O."""
        critical = self._level in (QuotaLevel.CRITICAL, QuotaLevel.EXHAUSTED)
        return CRITICAL_THROTTLE_FACTOR if critical else 1.0

    async def consume(self, n: int = 1, *, now: datetime | None = None) -> QuotaUsage:
        """Count `n` requests in both windows, or raise QuotaExhausted (429) and count none
        when either would pass its limit. Never raises because Redis is down."""
        if n < 1:
            raise ValueError("n must be >= 1")
        now = utc(now)
        daily, hourly = windows(self.provider, now)
        if self._guard.usable():
            args = [n, _arg(self.config.daily), _arg(self.config.hourly)]
            args += [daily.ttl_seconds, hourly.ttl_seconds]
            try:
                if self._pending:  # counted here during the last outage, not flushed yet
                    await self._guard.run(self._flush_local())
                refused, d_used, h_used = await self._guard.run(
                    self._consume(keys=[daily.key, hourly.key], args=args)
                )
            except RedisUnavailable:
                pass
            else:
                self._seen = {daily.key: int(d_used), hourly.key: int(h_used)}
                usage = self._usage(now, int(d_used), int(h_used))
                if int(refused):
                    raise self._exhausted(usage, daily if int(refused) == 1 else hourly, n, now)
                return usage
        return self._consume_local(n, now, daily, hourly)

    def _consume_local(self, n: int, now: datetime, daily: Window, hourly: Window) -> QuotaUsage:
        metrics.EXTERNAL_QUOTA_FALLBACK.labels(self.provider).inc()
        for window in (daily, hourly):
            limit = self.limit(window.name)
            if limit is None:
                continue
            share = max(0, limit - self._seen.get(window.key, 0)) // self.replicas
            if self._pending.get(window.key, 0) + n > share:
                usage = self._usage(now, *self._local_used(daily, hourly))
                raise self._exhausted(usage, window, n, now)
        for window in (daily, hourly):
            self._pending[window.key] = self._pending.get(window.key, 0) + n
            self._pending_ttl[window.key] = window.ttl_seconds
        return self._usage(now, *self._local_used(daily, hourly))

    def _local_used(self, daily: Window, hourly: Window) -> tuple[int, int]:
        """Use as this replica sees it: Redis's last count plus what it counted since."""
        seen, pending = self._seen, self._pending
        return (
            seen.get(daily.key, 0) + pending.get(daily.key, 0),
            seen.get(hourly.key, 0) + pending.get(hourly.key, 0),
        )

    async def usage(self, *, now: datetime | None = None) -> QuotaUsage:
        """Both windows' use (one MGET; this replica's view while degraded)."""
        now = utc(now)
        daily, hourly = windows(self.provider, now)
        if self._guard.usable():
            try:
                d_raw, h_raw = await self._guard.run(self._redis.mget(daily.key, hourly.key))
            except RedisUnavailable:
                pass
            else:
                d_used, h_used = int(d_raw or 0), int(h_raw or 0)
                self._seen = {daily.key: d_used, hourly.key: h_used}
                return self._usage(now, d_used, h_used)
        return self._usage(now, *self._local_used(daily, hourly))

    async def hours_today(self, *, now: datetime | None = None) -> list[dict[str, Any]] | None:
        """Requests counted in each hour of the UTC day so far, oldest first (one MGET); None
        while Redis is unreachable. Resetting the windows clears the current hour's counter
        with the day's, so the hours then sum to more than the daily counter."""
        hours = hours_of_day(self.provider, now)
        if not self._guard.usable():
            return None
        try:
            raw = await self._guard.run(self._redis.mget([key for _, key in hours]))
        except RedisUnavailable:
            return None
        return [
            {"hour": hour.isoformat(), "used": int(value or 0)}
            for (hour, _), value in zip(hours, raw, strict=True)
        ]

    def queue_usage(self, pipe: Any, now: datetime) -> bool:
        """Queue usage()'s MGET on a pipeline; False while degraded: call usage() instead."""
        if self.degraded:
            return False
        daily, hourly = windows(self.provider, now)
        pipe.mget(daily.key, hourly.key)
        return True

    def usage_from(self, reply: Any, now: datetime) -> QuotaUsage:
        daily, hourly = windows(self.provider, now)
        d_used, h_used = int(reply[0] or 0), int(reply[1] or 0)
        self._seen = {daily.key: d_used, hourly.key: h_used}
        return self._usage(now, d_used, h_used)

    async def reset(self, *, now: datetime | None = None) -> None:
        """Delete the current windows' counters (the admin API's DELETE .../quotas/{provider}).
        Raises ServiceUnavailable (503) when Redis is unreachable; this replica's own counts
        are cleared either way."""
        daily, hourly = windows(self.provider, now)
        for key in (daily.key, hourly.key):
            self._pending.pop(key, None)
            self._seen.pop(key, None)
        self._level = QuotaLevel.OK
        try:
            await self._guard.run(self._redis.delete(daily.key, hourly.key))
        except RedisUnavailable as exc:
            raise ServiceUnavailable(
                f"{self.provider}: quota counters were not reset, Redis is unreachable ({exc})."
            ) from exc
        log.info("%s quota counters reset", self.provider, extra={"provider": self.provider})

    async def aclose(self) -> None:
        """Stop the background Redis probe (the Redis client is the caller's)."""
        await self._guard.aclose()

    async def _flush_local(self) -> None:
        """Redis answers again: add what this replica counted meanwhile to its counters."""
        flushing = dict(self._pending)
        if not flushing:
            return
        pipe = self._redis.pipeline(transaction=True)
        for key, count in flushing.items():
            pipe.incrby(key, count)
            pipe.expire(key, self._pending_ttl[key])
        await pipe.execute()
        # Calls counted while the flush was on its way stay pending for the next one.
        for key, count in flushing.items():
            left = self._pending.get(key, 0) - count
            if left > 0:
                self._pending[key] = left
            else:
                self._pending.pop(key, None)
                self._pending_ttl.pop(key, None)

    def _usage(self, now: datetime, daily_used: int, hourly_used: int) -> QuotaUsage:
        daily, hourly = windows(self.provider, now)
        result = QuotaUsage(
            provider=self.provider,
            daily=self._window_usage(daily, daily_used),
            hourly=self._window_usage(hourly, hourly_used),
            projected_exhaustion=projection(now, daily, daily_used, self.config.daily),
            degraded=self.degraded,
        )
        self._level = result.level
        for window in (result.daily, result.hourly):
            labels = (self.provider, window.window)
            metrics.EXTERNAL_QUOTA_USED.labels(*labels).set(window.used)
            metrics.EXTERNAL_QUOTA_LEVEL.labels(*labels).set(window.level.severity)
            if window.limit is not None:
                metrics.EXTERNAL_QUOTA_LIMIT.labels(*labels).set(window.limit)
        return result

    def _window_usage(self, window: Window, used: int) -> WindowUsage:
        limit = self.limit(window.name)
        return WindowUsage(window.name, used, limit, window.resets_at, self._level_of(used, limit))

    def _level_of(self, used: int, limit: int | None) -> QuotaLevel:
        if limit is None:
            return QuotaLevel.OK
        if used >= limit:
            return QuotaLevel.EXHAUSTED
        ratio = used / limit
        if ratio >= self.config.critical_ratio:
            return QuotaLevel.CRITICAL
        return QuotaLevel.WARNING if ratio >= self.config.warn_ratio else QuotaLevel.OK

    def _exhausted(
        self, usage: QuotaUsage, window: Window, n: int, now: datetime
    ) -> QuotaExhausted:
        refused = usage.daily if window.name == "daily" else usage.hourly
        metrics.EXTERNAL_QUOTA_EXHAUSTED.labels(self.provider, window.name).inc()
        retry_after = max(1, math.ceil((window.resets_at - now).total_seconds()))
        share = " (this replica's share while Redis is unreachable)" if usage.degraded else ""
        return QuotaExhausted(
            f"{self.provider} {window.name} quota exhausted{share}: {refused.used}/"
            f"{refused.limit} requests used; it resets at "
            f"{window.resets_at:%Y-%m-%d %H:%M} UTC.",
            details={
                "provider": self.provider,
                "window": window.name,
                "used": refused.used,
                "limit": refused.limit,
                "requested": n,
                "resets_at": window.resets_at.isoformat(),
                "degraded": usage.degraded,
            },
            headers={"Retry-After": str(retry_after)},
        )


def _arg(limit: int | None) -> int:
    return -1 if limit is None else limit
