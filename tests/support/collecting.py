"""A guarded client for one provider, as the service builds it, for collector tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from redis.asyncio import Redis

from app.resilience.client import GuardedClient
from app.resilience.config import ResilienceConfig
from app.resilience.guards import ProviderGuards


@asynccontextmanager
async def guarded_client(
    redis_url: str, config: ResilienceConfig, *, http: httpx.AsyncClient | None = None
) -> AsyncIterator[GuardedClient]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    guards = ProviderGuards(redis, {config.provider: config}, replica="test")
    http = http or httpx.AsyncClient()
    try:
        yield GuardedClient(guards, http)
    finally:
        await guards.aclose()
        await http.aclose()
        await redis.aclose()
