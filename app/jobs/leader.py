"""Leader election: the replica holding a PostgreSQL session-level advisory lock runs jobs.

Why PostgreSQL and not a Redis lock: Postgres is already the source of truth for runs and
pauses, and a session lock needs no lease to renew. It is held by one connection and freed
by the server the moment that connection ends: a killed leader's socket closes and a
follower's next `pg_try_advisory_lock` wins (within `leader_poll_seconds`). A leader whose
host vanishes without closing the socket is cut off by TCP keepalives set on both ends
(`leader_keepalive_seconds`), so takeover stays well inside 15 s. A Redis lock would need
fencing tokens checked by every write to be safe across a pause; here a deposed leader finds
out at its next check (it pings its lock connection every poll) and stops its scheduler,
and a unique (job, slot) index on run records keeps a schedule slot from running twice even
in the overlap.

The `scheduler_leader` row is for display only (`/ready`, health): the lock decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg

from app.db.engine import libpq_url
from app.monitoring.metrics import SCHEDULER_HEARTBEAT, SCHEDULER_IS_LEADER

log = logging.getLogger(__name__)

LEADER_NAME = "scheduler"
_UPSERT_LEADER = """
INSERT INTO scheduler_leader (name, replica_id, epoch, acquired_at, heartbeat_at)
VALUES (%(name)s, %(replica)s, 1, now(), now())
ON CONFLICT (name) DO UPDATE SET replica_id = EXCLUDED.replica_id,
    epoch = scheduler_leader.epoch + 1, acquired_at = now(), heartbeat_at = now()
RETURNING epoch
"""
_HEARTBEAT = "UPDATE scheduler_leader SET heartbeat_at = now() WHERE name = %(name)s"


def lock_id(tenant_id: str) -> int:
    """A stable signed 64-bit key per tenant, distinct from the migration lock's."""
    digest = hashlib.blake2b(f"aurum.scheduler:{tenant_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


Callback = Callable[[], Awaitable[None]]


class LeaderElection:
    def __init__(
        self,
        database_url: str,
        *,
        replica_id: str,
        tenant_id: str,
        poll_seconds: float,
        keepalive_seconds: int,
        on_elected: Callback,
        on_deposed: Callback,
    ) -> None:
        self._url = libpq_url(database_url)
        self.replica_id = replica_id
        self._lock_id = lock_id(tenant_id)
        self._poll = poll_seconds
        self._keepalive = keepalive_seconds
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.is_leader = False
        self.epoch: int | None = None
        self.elected_at: datetime | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        """Step down (after `on_deposed` has let running work finish) and close the lock
        connection, which frees the lock for a follower at once."""
        self._stop.set()
        if self._task is not None:
            await self._task
        await self._step_down()
        await self._close()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.is_leader:
                    await self._check_still_leader()
                else:
                    await self._try_acquire()
            except (psycopg.Error, OSError) as exc:
                log.warning("leader election: database unreachable: %s", exc)
                await self._step_down()
                await self._close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._poll)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            k = self._keepalive
            self._conn = await psycopg.AsyncConnection.connect(
                self._url,
                autocommit=True,
                connect_timeout=max(2, k),
                application_name=f"aurum-leader:{self.replica_id}"[:63],
                keepalives=1,
                keepalives_idle=k,
                keepalives_interval=1,
                keepalives_count=3,
                tcp_user_timeout=k * 1000,
                # The server side too: it frees the lock when the leader's host goes silent.
                options=f"-c tcp_keepalives_idle={k} -c tcp_keepalives_interval=1 "
                f"-c tcp_keepalives_count=3 -c tcp_user_timeout={k * 1000}",
            )
        return self._conn

    async def _try_acquire(self) -> None:
        conn = await self._connect()
        row = await (
            await conn.execute("SELECT pg_try_advisory_lock(%s)", (self._lock_id,))
        ).fetchone()
        if not row or not row[0]:
            return
        epoch_row = await (
            await conn.execute(_UPSERT_LEADER, {"name": LEADER_NAME, "replica": self.replica_id})
        ).fetchone()
        self.is_leader = True
        self.epoch = int(epoch_row[0]) if epoch_row else None
        self.elected_at = datetime.now(UTC)
        SCHEDULER_IS_LEADER.set(1)
        SCHEDULER_HEARTBEAT.set_to_current_time()
        log.warning(
            "this replica now leads the scheduler",
            extra={"replica": self.replica_id, "epoch": self.epoch},
        )
        await self._on_elected()

    async def _check_still_leader(self) -> None:
        conn = await self._connect()
        await conn.execute(_HEARTBEAT, {"name": LEADER_NAME})
        SCHEDULER_HEARTBEAT.set_to_current_time()

    async def _step_down(self) -> None:
        if not self.is_leader:
            return
        self.is_leader = False
        SCHEDULER_IS_LEADER.set(0)
        log.warning(
            "this replica no longer leads the scheduler", extra={"replica": self.replica_id}
        )
        await self._on_deposed()

    async def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._conn.close()
            self._conn = None
