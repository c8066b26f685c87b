"""Build every client at start, close it at stop; never at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from redis.asyncio import Redis

from app.bootstrap import Dependencies
from app.db.engine import build_engine, build_sessionmaker
from app.resources import Resources
from app.settings import Settings

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

log = logging.getLogger(__name__)


def _kafka_admin(bootstrap_servers: str | None) -> AdminClient | None:
    if not bootstrap_servers:
        return None
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 5000})


def build_lifespan(
    settings: Settings, dependencies: Dependencies
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(settings, dependencies.database_url)
        redis = Redis.from_url(
            dependencies.redis_url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=2,
            health_check_interval=30,
        )
        app.state.resources = Resources(
            settings=settings,
            dependencies=dependencies,
            engine=engine,
            sessionmaker=build_sessionmaker(engine),
            redis=redis,
            kafka_admin=_kafka_admin(dependencies.kafka_bootstrap_servers),
        )
        log.info(
            "aurum control plane started",
            extra={"embedded": sorted(dependencies.embedded), "env": settings.env.value},
        )
        try:
            yield
        finally:
            await redis.aclose()
            await engine.dispose()
            # Dropping the last reference destroys the librdkafka client and its threads.
            app.state.resources.kafka_admin = None
            log.info("aurum control plane stopped")

    return lifespan
