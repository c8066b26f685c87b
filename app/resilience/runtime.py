"""The providers' runtime for one process: the loaded provider file, a guard per provider and
the guarded HTTP client, built in the lifespan and closed at shutdown."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.providers.config import ProvidersConfig, load_provider_config
from app.resilience import outage_recorder, overrides, recovery
from app.resilience.breaker import TransitionListener
from app.resilience.client import GuardedClient
from app.resilience.guards import ProviderGuards
from app.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ProviderRuntime:
    config: ProvidersConfig
    guards: ProviderGuards
    client: GuardedClient
    http: httpx.AsyncClient
    adaptive_switch: Callable[[str], bool] | None = None
    transition_listener: TransitionListener | None = None

    def set_adaptive_switch(self, switch: Callable[[str], bool] | None) -> None:
        """Kept across reloads: the `adaptive_rate_limiting` flag's view per provider."""
        self.adaptive_switch = switch
        self.guards.set_adaptive_switch(switch)

    async def aclose(self) -> None:
        await self.guards.aclose()
        await self.http.aclose()

    async def reload(self, settings: Settings, redis: Redis) -> ProvidersConfig:
        """Load the provider file again and swap in guards built from it. Raises
        ProviderConfigError (naming file, line and key) and changes nothing when the file is
        invalid. Breaker, limiter and quota state live in Redis, so new guards resume it."""
        config = load_provider_config(settings.provider_config_path)
        guards = ProviderGuards(
            redis,
            {name: config.resilience(name) for name in config.providers},
            replica=settings.replica_id,
        )
        with contextlib.suppress(RedisError, OSError):
            await guards.refresh_overrides()
        guards.set_adaptive_switch(self.adaptive_switch)
        guards.set_transition_listener(self.transition_listener)
        guards.start()
        old, self.guards, self.config = self.guards, guards, config
        self.client.guards = guards
        await old.aclose()
        return config


async def start_providers(
    settings: Settings,
    redis: Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    user_agent: str,
) -> ProviderRuntime:
    config = load_provider_config(settings.provider_config_path)
    guards = ProviderGuards(
        redis,
        {name: config.resilience(name) for name in config.providers},
        replica=settings.replica_id,
    )
    with contextlib.suppress(RedisError, OSError):  # a Redis outage must not stop the start
        async with sessionmaker() as session:
            await overrides.restore(session, redis, guards.names)
        await guards.refresh_overrides()
    listener = outage_recorder.both(
        recovery.breaker_listener(sessionmaker), outage_recorder.breaker_listener(sessionmaker)
    )
    guards.set_transition_listener(listener)
    guards.start()
    # Redirects are not followed: a provider redirecting elsewhere is a misconfiguration to see.
    http = httpx.AsyncClient(headers={"User-Agent": user_agent}, follow_redirects=False)
    return ProviderRuntime(
        config=config, guards=guards, client=GuardedClient(guards, http), http=http,
        transition_listener=listener,
    )  # fmt: skip
