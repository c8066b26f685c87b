"""One guard per provider: its limiter, quota, breaker, retry policy and cost tracker, built
from the provider file and kept in step with operators' overrides on every replica."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.errors import NotFound
from app.resilience.breaker import CircuitBreaker, TransitionListener
from app.resilience.config import ResilienceConfig
from app.resilience.cost import CostTracker
from app.resilience.limiter import OutboundRateLimiter
from app.resilience.quotas import ProviderQuota
from app.resilience.retry import RetryPolicy

log = logging.getLogger(__name__)

# Fields of the Redis hash `resilience:overrides:<provider>` (the limiter's Lua script reads
# the rate and burst itself; quotas and the budget are applied here).
QUOTA_FIELDS = ("daily_quota", "hourly_quota")
BUDGET_FIELD = "monthly_budget_usd"
OVERRIDES_REFRESH_SECONDS = 1.0


def overrides_key(provider: str) -> str:
    return f"resilience:overrides:{provider}"


THROTTLE_BUCKET_TTL_SECONDS = 7200


def throttle_key(provider: str, minute: datetime) -> str:
    return f"resilience:throttled:{provider}:{minute:%Y-%m-%dT%H:%M}"


@dataclass
class ProviderGuard:
    redis: Redis
    config: ResilienceConfig
    limiter: OutboundRateLimiter
    quota: ProviderQuota
    breaker: CircuitBreaker
    retry: RetryPolicy
    cost: CostTracker

    @property
    def provider(self) -> str:
        return self.config.provider

    @property
    def degraded(self) -> bool:
        parts = (self.limiter, self.quota, self.breaker, self.cost)
        return any(part.degraded for part in parts)

    async def note_throttled(self) -> None:
        """Count a 429 or throttle body in this minute's bucket (for "429s in the last hour")."""
        key = throttle_key(self.provider, datetime.now(UTC))
        with contextlib.suppress(RedisError, OSError):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, THROTTLE_BUCKET_TTL_SECONDS)
                await pipe.execute()

    async def throttled_last_hour(self) -> int | None:
        """Throttle answers in the last 60 minutes, all replicas; None if Redis is down."""
        now = datetime.now(UTC)
        keys = [throttle_key(self.provider, now - timedelta(minutes=m)) for m in range(60)]
        try:
            return sum(int(v) for v in await self.redis.mget(keys) if v)
        except (RedisError, OSError):
            return None

    def apply_overrides(self, fields: dict[str, Any]) -> None:
        """Quota limits and budget from the overrides hash (missing field: the file's value)."""
        base = self.config.quota
        daily = fields.get("daily_quota")
        hourly = fields.get("hourly_quota")
        self.quota.config = dataclasses.replace(
            base,
            daily=int(daily) if daily not in (None, "") else base.daily,
            hourly=int(hourly) if hourly not in (None, "") else base.hourly,
        )
        budget = fields.get(BUDGET_FIELD)
        self.cost.budget_override_usd = float(budget) if budget not in (None, "") else None

    async def aclose(self) -> None:
        for part in (self.limiter, self.quota, self.breaker):
            with contextlib.suppress(Exception):
                await part.aclose()


class ProviderGuards:
    """The guards of every configured provider; `guards["fred"]`."""

    def __init__(self, redis: Redis, configs: dict[str, ResilienceConfig], *, replica: str) -> None:
        self._redis = redis
        self._guards = {
            name: ProviderGuard(
                redis=redis,
                config=config,
                limiter=OutboundRateLimiter.from_config(redis, config),
                quota=ProviderQuota.from_config(redis, config),
                breaker=CircuitBreaker(redis, name, config.breaker, replica=replica),
                retry=RetryPolicy(config.retry),
                cost=CostTracker(redis, name, config.cost),
            )
            for name, config in configs.items()
        }
        self._refresher: asyncio.Task[None] | None = None

    def __getitem__(self, provider: str) -> ProviderGuard:
        try:
            return self._guards[provider]
        except KeyError:
            known = ", ".join(sorted(self._guards))
            raise NotFound(f"No provider named {provider!r}; known providers: {known}.") from None

    def __iter__(self) -> Any:
        return iter(self._guards.values())

    @property
    def names(self) -> list[str]:
        return sorted(self._guards)

    def set_transition_listener(self, listener: TransitionListener | None) -> None:
        """`listener` hears every breaker transition this replica makes."""
        for guard in self._guards.values():
            guard.breaker.on_transition = listener

    def set_adaptive_switch(self, switch: Callable[[str], bool] | None) -> None:
        """`switch(provider)` False turns that provider's adaptive rate off (a runtime flag)."""
        for name, guard in self._guards.items():
            limiter = guard.limiter
            limiter.adaptive_switch = None if switch is None else functools.partial(switch, name)

    async def refresh_overrides(self) -> None:
        """Read every provider's overrides hash once (a change made on any replica)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in self._guards:
                pipe.hgetall(overrides_key(name))
            results = await pipe.execute()
        for name, fields in zip(self._guards, results, strict=True):
            self._guards[name].apply_overrides(fields or {})

    def start(self) -> None:
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh_overrides()
            except (RedisError, OSError):
                log.debug("overrides refresh skipped: Redis unavailable")
            await asyncio.sleep(OVERRIDES_REFRESH_SECONDS)

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        for guard in self._guards.values():
            await guard.aclose()
