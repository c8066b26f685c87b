"""The clients one process holds, built in the lifespan and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.settings import Settings

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from app.auth.authenticator import Authenticator
    from app.bootstrap import Dependencies
    from app.db.read_sessions import ReadSessions
    from app.db.standby_rows import StandbyFirstRows
    from app.jobs.scheduler import JobScheduler
    from app.outages.board import OutageBoard
    from app.quality.suites import SuiteCatalog
    from app.ratelimit.limiter import RateLimiter
    from app.resilience.runtime import ProviderRuntime
    from app.runtime_config.propagation import FlagPropagation


@dataclass
class Resources:
    settings: Settings
    dependencies: Dependencies
    engine: AsyncEngine
    # The primary: every write and every read that must see its own writes.
    sessionmaker: async_sessionmaker[AsyncSession]
    # Staleness-tolerant reads (health, SLA): the replica while it is fit.
    reads: ReadSessions
    # The read API's pages (app/db/read_pool.py): plain psycopg pools, the replica's while
    # `reads` finds it fit.
    read_rows: StandbyFirstRows
    redis: Redis
    kafka_admin: AdminClient | None
    rate_limiter: RateLimiter | None  # None when AURUM_RATE_LIMIT_ENABLED is false
    authenticator: Authenticator
    providers: ProviderRuntime
    # This replica's flags: `flags.snapshot` is read on hot paths (a dict lookup, no I/O).
    flags: FlagPropagation
    scheduler: JobScheduler | None = None  # set right after the rest is built
    # Expectation suites (config/expectations), loaded at start; None only in hand-built
    # Resources that never validate.
    quality: SuiteCatalog | None = None
    # This replica's view of the open outages (health, ratelimits, the gauge); None only in
    # hand-built Resources.
    outages: OutageBoard | None = None
