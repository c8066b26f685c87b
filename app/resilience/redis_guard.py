"""Redis calls that must never fail the caller (the outbound limiter and quotas).

Each call gets a deadline of its own: redis-py's default retry policy (10 attempts with
backoff) could otherwise hold a provider call for seconds against a dead server. The first
failure marks the store degraded; from then on callers use their in-process fallback without
touching Redis, and Redis is pinged in the background at most once a second until it answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.monitoring.metrics import EXTERNAL_RATELIMIT_DEGRADED

log = logging.getLogger(__name__)

T = TypeVar("T")

PROBE_INTERVAL_SECONDS = 1.0
# Unreachable, refused, timed out, loading, read-only, out of memory: all mean "count locally".
REDIS_FAILURES = (RedisError, OSError, TimeoutError)


class RedisUnavailable(Exception):
    """The call did not reach Redis (or Redis is known to be down); use the fallback."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class RedisGuard:
    """Tracks whether one component may use Redis, and probes it while it may not."""

    def __init__(
        self,
        redis: Redis,
        *,
        provider: str,
        part: str,
        timeout: float,
        on_recover: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.redis = redis
        self.provider = provider
        self.part = part  # "limiter" or "quota": the label of the degraded gauge
        self.timeout = timeout
        self._on_recover = on_recover
        self._reason: str | None = None
        self._next_probe = 0.0
        self._probe: asyncio.Task[None] | None = None

    @property
    def degraded(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        """Why the component counts in memory right now, or None."""
        return self._reason

    def usable(self) -> bool:
        """True when the caller should try Redis now. While degraded: False, and a background
        probe is started if the last one was more than a second ago."""
        if self._reason is None:
            return True
        now = time.monotonic()
        if now >= self._next_probe and (self._probe is None or self._probe.done()):
            self._next_probe = now + PROBE_INTERVAL_SECONDS
            self._probe = asyncio.create_task(self._ping(), name=f"{self.part}-redis-probe")
        return False

    async def run(self, call: Awaitable[T]) -> T:
        """Await `call` within the deadline; any Redis failure degrades and raises
        RedisUnavailable."""
        try:
            async with asyncio.timeout(self.timeout):
                return await call
        except REDIS_FAILURES as exc:
            self.degrade(exc)
            raise RedisUnavailable(self._reason) from exc

    def degrade(self, exc: BaseException) -> None:
        if self._reason is None:
            log.warning(
                "%s %s: Redis unreachable; counting in process memory at this replica's share",
                self.provider,
                self.part,
                extra={"provider": self.provider, "reason": _reason(exc)},
            )
            EXTERNAL_RATELIMIT_DEGRADED.labels(self.provider, self.part).set(1)
        self._reason = _reason(exc)
        self._next_probe = time.monotonic() + PROBE_INTERVAL_SECONDS

    async def _ping(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await self.redis.ping()
                if self._on_recover is not None:
                    await self._on_recover()
        except REDIS_FAILURES as exc:
            self._reason = _reason(exc)
            return
        log.info(
            "%s %s: Redis answers again; shared state in use",
            self.provider,
            self.part,
            extra={"provider": self.provider},
        )
        self._reason = None
        EXTERNAL_RATELIMIT_DEGRADED.labels(self.provider, self.part).set(0)

    async def aclose(self) -> None:
        """Stop a running probe (the Redis client belongs to whoever built it)."""
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        self._probe = None
