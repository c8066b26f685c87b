"""Start and stop this replica's flag propagation, and connect the flags to the code that
consumes them in memory (the inbound limiter's override, the outbound limiter's adaptivity).
Collectors and the read API read the snapshot themselves when they run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.runtime_config.propagation import FlagPropagation
from app.runtime_config.snapshot import FlagSnapshot, FlagState
from app.settings import Settings

if TYPE_CHECKING:
    from app.ratelimit.limiter import RateLimiter
    from app.resilience.runtime import ProviderRuntime
    from app.resources import Resources


def _bind_rate_limit(snapshot: FlagSnapshot, limiter: RateLimiter) -> None:
    applied: list[float | None] = [None]

    def apply(_: FlagSnapshot, state: FlagState) -> None:
        if state.name != "api_rate_limit":
            return
        rps = float(state.configuration.get("rps", 0)) if state.enabled else None
        if rps is not None and rps <= 0:
            rps = None
        if rps != applied[0]:
            limiter.set_override_rps(rps)
            applied[0] = rps

    snapshot.on_change(apply)


async def start_flags(
    settings: Settings,
    redis: Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    rate_limiter: RateLimiter | None,
    providers: ProviderRuntime,
) -> FlagPropagation:
    propagation = FlagPropagation(settings, redis, sessionmaker)
    snapshot = propagation.snapshot
    if rate_limiter is not None:
        _bind_rate_limit(snapshot, rate_limiter)
    providers.set_adaptive_switch(
        lambda provider: snapshot.for_provider("adaptive_rate_limiting", provider, True)
    )
    await propagation.start()
    return propagation


async def stop_flags(propagation: FlagPropagation) -> None:
    await propagation.stop()


async def expire_flags(resources: Resources) -> list[str]:
    """Revert flags whose TTL passed (own transaction, audited as `system`) and publish the
    reverts; returns the names reverted. For the scheduler's leader job; safe on any replica."""
    return await resources.flags.expire()
