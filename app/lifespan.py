"""Build every client at start, close it at stop; never at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from app.auth.api_keys import ApiKeyVerifier
from app.auth.authenticator import Authenticator
from app.auth.tokens import JwtVerifier
from app.bootstrap import Dependencies
from app.db.engine import build_engine, build_sessionmaker
from app.db.read_pool import ReadPool
from app.db.read_sessions import ReadSessions
from app.db.standby_rows import StandbyFirstRows
from app.health.dependencies import DependencyCache
from app.health.view_cache import ViewCache
from app.jobs.scheduler import JobScheduler
from app.monitoring.readiness import Phase, ReplicaState
from app.monitoring.refresher import MetricsRefresher
from app.outages.board import OutageBoard
from app.quality.suites import load_suites
from app.ratelimit.limiter import RateLimiter
from app.resilience.redis_client import build_redis
from app.resilience.runtime import start_providers
from app.resources import Resources
from app.runtime_config.lifecycle import start_flags, stop_flags
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
        # `/ready` answers 503 until the start below completes, and again once draining.
        replica = app.state.replica = ReplicaState()
        engine = build_engine(settings, dependencies.database_url)
        # A stalled Redis (no reset, no reply) costs a call AURUM_REDIS_TIMEOUT_SECONDS once:
        # redis-py's default policy retried timeouts 3 times, 4x the timeout per call.
        # After one call gets no answer, calls fail at once for AURUM_REDIS_COOLDOWN_SECONDS:
        # a request making several Redis calls then pays one timeout at most, not their sum.
        redis = build_redis(
            dependencies.redis_url,
            timeout=settings.redis_timeout_seconds,
            cooldown=settings.redis_cooldown_seconds,
        )
        sessionmaker = build_sessionmaker(engine)
        read_url = settings.read_database_url(dependencies.database_url)
        reads = ReadSessions(
            sessionmaker,
            None if read_url == dependencies.database_url else build_engine(settings, read_url),
            max_lag_seconds=settings.database_read_max_lag_seconds,
            # Half a request's wait for PostgreSQL: a read that finds the replica stalled
            # still has the other half to get its page from the primary.
            check_timeout_seconds=settings.db_request_timeout_seconds / 2,
        )

        def read_pool(url: str, role: str) -> ReadPool:
            return ReadPool(
                url,
                size=settings.read_pool_size,
                wait_seconds=settings.db_request_timeout_seconds,
                statement_timeout_ms=settings.db_statement_timeout_ms,
                application_name=f"aurum:{settings.replica_id}:{role}",
            )

        # The read API's pages: the replica's pool while `reads` finds it fit, else the
        # primary's.
        read_rows = StandbyFirstRows(
            read_pool(dependencies.database_url, "read"),
            read_pool(read_url, "read-replica") if reads.configured else None,
            reads,
        )
        await read_rows.open()
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        authenticator = Authenticator(
            ApiKeyVerifier(
                sessionmaker,
                settings.api_key_cache_seconds,
                lookup_timeout=settings.db_request_timeout_seconds,
                outage_grace_seconds=settings.api_key_outage_grace_seconds,
            ),
            JwtVerifier(settings, secret=secret),
        )
        # Built by create_app with its middleware; its storage client is made here, in the loop.
        rate_limiter: RateLimiter | None = getattr(app.state, "rate_limiter", None)
        if rate_limiter is not None:
            await rate_limiter.open()
        providers = await start_providers(
            settings, redis, sessionmaker, user_agent=f"aurum-control/{app.version}"
        )
        app.state.resources = Resources(
            settings=settings,
            dependencies=dependencies,
            engine=engine,
            sessionmaker=sessionmaker,
            reads=reads,
            read_rows=read_rows,
            redis=redis,
            kafka_admin=_kafka_admin(dependencies.kafka_bootstrap_servers),
            rate_limiter=rate_limiter,
            authenticator=authenticator,
            providers=providers,
            quality=load_suites(settings.expectations_dir, list(providers.config.providers)),
            flags=await start_flags(settings, redis, sessionmaker, rate_limiter, providers),
        )
        # Dependency checks for the health view, refreshed in the background while read.
        app.state.health_dependencies = DependencyCache(app.state.resources, replica.checks)
        # Health and SLA bodies, computed once per interval and shared by every reader.
        app.state.health_views = ViewCache(settings.health_cache_seconds, app.state.changes)
        # Open outages, re-read several times a second: a change drops the cached health views.
        board = OutageBoard(
            sessionmaker,
            lambda: sorted(app.state.resources.providers.config.providers),
            on_change=app.state.changes.bump,
        )
        app.state.resources.outages = board
        board.start()
        # Jobs (collections, monitors, the outbox relay) run on the elected leader only.
        scheduler = JobScheduler(app.state.resources)
        app.state.resources.scheduler = scheduler
        if settings.scheduler_enabled:
            scheduler.start()
        # Every series the alerts read, on every replica from now on (not only the leader).
        metrics_refresher = MetricsRefresher(app.state.resources)
        metrics_refresher.start()
        # Everything built so far (imports, clients) lives as long as the process. Freezing it
        # keeps full garbage collections from re-scanning ~165k objects under load, which
        # measured ~100 ms each: the p99 of a busy replica.
        gc.collect()
        gc.freeze()
        log.info(
            "aurum control plane started",
            extra={"embedded": sorted(dependencies.embedded), "env": settings.env.value},
        )
        replica.enter(Phase.SERVING)
        try:
            yield
        finally:
            replica.enter(Phase.DRAINING)
            await metrics_refresher.aclose()
            await board.aclose()
            await scheduler.stop()  # lets runs reach a batch boundary, then frees the lock
            await stop_flags(app.state.resources.flags)
            await app.state.health_dependencies.aclose()
            await replica.checks.aclose()
            await authenticator.api_keys.drain()
            await providers.aclose()
            if rate_limiter is not None:
                await rate_limiter.close()
            await redis.aclose()
            await reads.aclose()
            await engine.dispose()
            await read_rows.close()
            # Dropping the last reference destroys the librdkafka client and its threads.
            app.state.resources.kafka_admin = None
            log.info("aurum control plane stopped")

    return lifespan
