"""Reads that may be answered by a streaming replica (AURUM_DATABASE_READ_URL).

Only reads that tolerate a few seconds of staleness come here: the read API's pages, the
health and SLA views. Everything that must see its own writes (admin writes, the job runner,
outages, API-key lookups, audit) keeps the primary's sessionmaker (`Resources.sessionmaker`).

The replica is used while it answers and lags at most AURUM_DATABASE_READ_MAX_LAG_SECONDS;
otherwise reads go to the primary, with one log line per transition and
`aurum_db_read_fallback_total{reason}` counting each read that fell back. The replica is never
part of readiness: every pod shares it, so failing `/ready` on it would take every pod out of
the Service at once while the primary could still answer the same reads.

A query path that does not use SQLAlchemy (a raw psycopg pool) plugs in the same way: build
its second pool from `Settings.read_database_url(...)` and ask `ReadSessions.use_replica()`
before each read.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.engine import build_sessionmaker
from app.monitoring.metrics import DB_READ_FALLBACK, DB_REPLICA_LAG

log = logging.getLogger(__name__)

# How long one lag verdict is trusted. A read path answers thousands of requests a second:
# checking once a second costs one round-trip per second, not one per read.
CHECK_INTERVAL_SECONDS = 1.0

# `pg_last_xact_replay_timestamp()` is the commit time of the last transaction replayed: on
# an idle primary it grows old while the standby is fully caught up. So nothing received and
# not yet replayed counts as zero lag; only WAL waiting to be replayed makes the age a lag.
# A server that is not in recovery (the URL names a primary, or a pooler in front of one)
# has no lag.
LAG_QUERY = text(
    """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0.0
        WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0
        ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8
    END
    """
)


class Fallback(StrEnum):
    """Why a read went to the primary (the metric's `reason` label)."""

    UNREACHABLE = "unreachable"
    LAG = "lag"


class ReadSessions:
    """Hands out a session on the replica while it is fit to answer, else on the primary."""

    def __init__(
        self,
        primary: async_sessionmaker[AsyncSession],
        replica_engine: AsyncEngine | None = None,
        *,
        max_lag_seconds: float = 30.0,
        check_timeout_seconds: float = 1.0,
    ) -> None:
        self.primary = primary
        self.replica = None if replica_engine is None else build_sessionmaker(replica_engine)
        self._engine = replica_engine
        self._max_lag = max_lag_seconds
        self._timeout = check_timeout_seconds
        self._checked_at = -math.inf
        self._reason: Fallback | None = None  # the last verdict: None means "use the replica"
        self._check: asyncio.Task[None] | None = None
        self.lag_seconds: float | None = None
        if replica_engine is not None:
            for reason in Fallback:  # every series exists at 0 before the first fallback
                DB_READ_FALLBACK.labels(reason.value)

    @property
    def configured(self) -> bool:
        return self.replica is not None

    async def use_replica(self) -> bool:
        """Whether the next read should go to the replica (the verdict is at most
        CHECK_INTERVAL_SECONDS old, plus one check)."""
        if self._engine is None:
            return False
        if time.monotonic() - self._checked_at >= CHECK_INTERVAL_SECONDS:
            if self._check is None or self._check.done():
                self._check = asyncio.create_task(self._refresh())
            # While the replica is known unfit, reads go to the primary at once instead of
            # waiting up to the check's timeout for a replica that is likely still down.
            if self._reason is None:
                await asyncio.shield(self._check)
        if self._reason is not None:
            DB_READ_FALLBACK.labels(self._reason.value).inc()
            return False
        return True

    async def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """The sessionmaker the next read should use."""
        if self.replica is not None and await self.use_replica():
            return self.replica
        return self.primary

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit: nothing is committed (there is nothing to commit on a standby)."""
        maker = await self.sessionmaker()
        async with maker() as session:
            yield session

    async def _refresh(self) -> None:
        assert self._engine is not None
        try:
            lag = await asyncio.wait_for(self._lag(self._engine), self._timeout)
        except Exception as exc:  # any failure to answer means "unreachable", with its reason
            self.lag_seconds = None
            self._set(Fallback.UNREACHABLE, f"{type(exc).__name__}: {exc}".splitlines()[0])
        else:
            self.lag_seconds = lag
            DB_REPLICA_LAG.set(lag)
            fit = lag <= self._max_lag
            self._set(None if fit else Fallback.LAG, f"lag {lag:.3f}s, max {self._max_lag:g}s")
        finally:
            self._checked_at = time.monotonic()

    @staticmethod
    async def _lag(engine: AsyncEngine) -> float:
        async with engine.connect() as conn:
            value = (await conn.execute(LAG_QUERY)).scalar()
        # No transaction replayed yet while WAL is pending: as unknown as it gets.
        return math.inf if value is None else max(0.0, float(value))

    def _set(self, reason: Fallback | None, detail: str) -> None:
        if reason == self._reason:
            return
        if reason is None:
            log.info("database reads on the replica", extra={"detail": detail})
        else:
            log.warning(
                "database reads fall back to the primary",
                extra={"reason": reason.value, "detail": detail},
            )
        self._reason = reason

    async def aclose(self) -> None:
        if self._check is not None:
            self._check.cancel()
            await asyncio.gather(self._check, return_exceptions=True)
        if self._engine is not None:
            await self._engine.dispose()
