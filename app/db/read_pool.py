"""The read API's own small connection pool: plain psycopg 3, rows as tuples.

The read pages are two fixed queries (app/db/repositories/external_read.py) on the busiest
paths of the service. Through SQLAlchemy each page paid a session, a transaction (BEGIN and
ROLLBACK round-trips), statement compilation and row objects; here a page is one round-trip
of a statement prepared once per connection (`prepare_threshold=0`), in autocommit, and the
rows come back as tuples for the page to serialise.

Pages depend on `RowSource`, not on this class, so the pool can be pointed at another server
(a read replica) by whoever builds it: the conninfo is one constructor argument, today
`AURUM_DATABASE_URL`.

Failures are psycopg's: `psycopg.OperationalError` for a server that is down or reset, and
`psycopg_pool.PoolTimeout` (a subclass) when no connection is free within `wait_seconds`;
both are "the database is unavailable" to the read API (a stale page or the documented 503)
and to the app's error handlers (503), never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool

from app.db.engine import CONNECT_TIMEOUT_SECONDS, libpq_url

Row = tuple[Any, ...]

# What a fetch that got no answer from PostgreSQL raises (PoolTimeout is an OperationalError).
UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError)


class RowSource(Protocol):
    """Where read pages get their rows: `sql` with `%s` placeholders, `params` in order."""

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Row]: ...


class ReadPool:
    """`conninfo`: a PostgreSQL URL (SQLAlchemy's `postgresql+psycopg://` is accepted).
    Opened and closed by the lifespan; connections are made in the background, so a server
    that is down at start delays nothing but the first reads."""

    def __init__(
        self,
        conninfo: str,
        *,
        size: int = 4,
        wait_seconds: float = 1.0,
        statement_timeout_ms: int = 30_000,
        application_name: str = "aurum:read",
    ) -> None:
        self._wait_seconds = wait_seconds
        self._pool = AsyncConnectionPool(
            libpq_url(conninfo),
            min_size=1,
            max_size=size,
            open=False,
            timeout=wait_seconds,
            # A connection that breaks is dropped when it is returned; reconnecting is bounded
            # by libpq's connect_timeout, and the pool keeps trying in the background.
            reconnect_timeout=0,
            kwargs={
                "autocommit": True,
                # Prepare every statement on its first use on a connection: the pages run the
                # same few statements all day.
                "prepare_threshold": 0,
                "options": f"-c statement_timeout={statement_timeout_ms}",
                "application_name": application_name[:63],
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            },
        )

    async def open(self) -> None:
        await self._pool.open(wait=False)

    async def close(self) -> None:
        await self._pool.close(timeout=CONNECT_TIMEOUT_SECONDS)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        async with self._pool.connection(timeout=self._wait_seconds) as conn:
            cursor = await conn.execute(sql, params, prepare=True)
            return await cursor.fetchall()
