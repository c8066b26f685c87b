"""Getting every flag change to every replica: PostgreSQL holds the truth; after a commit the
writer publishes the new state on a Redis channel; each replica applies it to its snapshot and
acknowledges in a Redis hash (replica id → applied versions, when, last heartbeat).

Pub/sub is fire-and-forget: a replica whose subscription drops (network blip, Redis restart,
CLIENT KILL) misses what was published meanwhile. So every replica also reconciles from
PostgreSQL every `flags_reconcile_seconds`, and right after every (re)subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import RuntimeFlag
from app.db.repositories import flags as repo
from app.monitoring import metrics
from app.runtime_config.service import expire_due
from app.runtime_config.snapshot import FlagSnapshot, FlagState
from app.settings import Settings

log = logging.getLogger(__name__)

APPLIED_LOG_LENGTH = 1000  # per replica: the last applies, with timings (status, benchmark)
APPLIED_LOG_TTL_SECONDS = 86_400
RESUBSCRIBE_DELAY_SECONDS = 0.5
_FAILURES = (RedisError, OSError, SQLAlchemyError, TimeoutError)


class FlagKeys:
    """Redis names, per tenant, so deployments sharing a Redis do not hear each other."""

    def __init__(self, tenant_id: str) -> None:
        base = f"aurum:flags:{tenant_id}"
        self.channel = f"{base}:changes"
        self.replicas = f"{base}:replicas"
        self._applied = f"{base}:applied"

    def applied(self, replica_id: str) -> str:
        return f"{self._applied}:{replica_id}"


def state_of(flag: RuntimeFlag) -> FlagState:
    return FlagState(flag.name, flag.enabled, dict(flag.configuration or {}), flag.version)


async def load_states(sessionmaker: async_sessionmaker[AsyncSession]) -> list[FlagState]:
    async with sessionmaker() as session:
        return [state_of(flag) for flag in await repo.list_all(session)]


async def load_snapshot(sessionmaker: async_sessionmaker[AsyncSession]) -> FlagSnapshot:
    """A snapshot read once (the runner: a process that lives for one collection)."""
    snapshot = FlagSnapshot()
    snapshot.apply(await load_states(sessionmaker))
    return snapshot


class FlagPropagation:
    """One per process: owns the snapshot, the subscriber and the reconcile loop."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        sessionmaker: async_sessionmaker[AsyncSession],
        snapshot: FlagSnapshot | None = None,
    ) -> None:
        self.settings = settings
        self.replica_id = settings.replica_id
        self.keys = FlagKeys(settings.tenant_id)
        self.snapshot = snapshot or FlagSnapshot()
        self._redis = redis
        # The subscription gets a connection of its own, named after the replica, so that
        # `CLIENT LIST TYPE pubsub` shows which replicas listen (and one can be cut off).
        pool = redis.connection_pool
        self._subscriber = Redis(
            connection_pool=ConnectionPool(
                connection_class=pool.connection_class,
                **{**pool.connection_kwargs, "client_name": self.subscriber_name},
            )
        )
        self._sessionmaker = sessionmaker
        self._tasks: list[asyncio.Task[None]] = []
        self._reconcile_now = asyncio.Event()
        self._stopping = False
        self.subscribed = asyncio.Event()  # set while the subscription is up

    @property
    def subscriber_name(self) -> str:
        return f"aurum-flags:{self.replica_id}"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the truth (a PostgreSQL outage leaves defaults until the next reconcile),
        acknowledge, then follow changes."""
        with contextlib.suppress(*_FAILURES):
            await self.reconcile(source="start")
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._subscribe_forever(), name="flags-subscriber"),
            loop.create_task(self._reconcile_forever(), name="flags-reconciler"),
        ]

    async def stop(self) -> None:
        # Python 3.11's wait_for can swallow a cancel that races its inner wait finishing, so
        # the loops also check this flag.
        self._stopping = True
        self._reconcile_now.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await self._subscriber.aclose(close_connection_pool=True)
        # Leave the status at once rather than after the liveness TTL.
        with contextlib.suppress(*_FAILURES):
            await self._redis.hdel(self.keys.replicas, self.replica_id)

    # -- after a commit --------------------------------------------------------------------

    async def publish(self, states: Iterable[FlagState], committed_at: float) -> None:
        """Tell every replica (this one at once, without waiting for its own message). A
        publish that fails is not an error: the reconcile loop delivers within seconds."""
        states = list(states)
        await self._apply(states, source="local", committed_at=committed_at)
        for state in states:
            message = json.dumps(state.as_message() | {"committed_at": committed_at})
            try:
                await self._redis.publish(self.keys.channel, message)
            except _FAILURES as exc:
                metrics.FLAG_SYNC_FAILURES.labels("publish").inc()
                log.warning("could not publish flag %s: %s", state.name, exc)

    async def expire(self) -> list[str]:
        """Revert every flag whose TTL has passed, in its own transaction, and publish the
        reverts. Rows are claimed with SKIP LOCKED, so replicas running this together revert
        each flag once."""
        async with self._sessionmaker() as session, session.begin():
            names = await expire_due(session)
            states = [state_of(f) for n in names if (f := await repo.get(session, n))]
        if states:
            log.info("flags reverted on expiry: %s", ", ".join(names))
            await self.publish(states, committed_at=time.time())
        return names

    # -- the loops -------------------------------------------------------------------------

    async def _subscribe_forever(self) -> None:
        while not self._stopping:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.keys.channel)
                self.subscribed.set()
                # Whatever was published while unsubscribed is in PostgreSQL: catch up now.
                self._reconcile_now.set()
                while not self._stopping:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        await self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                metrics.FLAG_SYNC_FAILURES.labels("subscribe").inc()
                log.warning("flag subscription lost (%s); resubscribing", exc)
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(RESUBSCRIBE_DELAY_SECONDS)

    async def _on_message(self, data: Any) -> None:
        try:
            payload = json.loads(data)
            state = FlagState.from_message(payload)
            committed_at = float(payload.get("committed_at") or 0) or None
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed flag message: %.200r", data)
            return
        await self._apply([state], source="pubsub", committed_at=committed_at)

    async def _reconcile_forever(self) -> None:
        interval = self.settings.flags_reconcile_seconds
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconcile_now.wait(), interval)
            self._reconcile_now.clear()
            if self._stopping:
                return
            try:
                await self.reconcile()
            except _FAILURES as exc:
                metrics.FLAG_SYNC_FAILURES.labels("reconcile").inc()
                log.warning("flag reconcile failed: %s", exc)
            # Until the scheduler (leader only) runs expiry, every replica tries; SKIP LOCKED
            # makes that safe.
            try:
                await self.expire()
            except _FAILURES as exc:
                metrics.FLAG_SYNC_FAILURES.labels("expire").inc()
                log.warning("flag expiry failed: %s", exc)

    async def reconcile(self, source: str = "reconcile") -> list[FlagState]:
        """Apply whatever PostgreSQL holds that is newer, and heartbeat."""
        applied = await self._apply(
            await load_states(self._sessionmaker), source=source, committed_at=None
        )
        return applied

    # -- applying and acknowledging --------------------------------------------------------

    async def _apply(
        self, states: list[FlagState], *, source: str, committed_at: float | None
    ) -> list[FlagState]:
        applied = self.snapshot.apply(states)
        now = time.time()
        if applied:
            metrics.FLAG_APPLIED.labels(source).inc(len(applied))
            if committed_at is not None:
                metrics.FLAG_PROPAGATION_SECONDS.observe(max(0.0, now - committed_at))
        try:
            await self._acknowledge(applied, source=source, committed_at=committed_at, now=now)
        except _FAILURES as exc:
            metrics.FLAG_SYNC_FAILURES.labels("ack").inc()
            log.warning("could not acknowledge flag versions: %s", exc)
        return applied

    async def _acknowledge(
        self, applied: list[FlagState], *, source: str, committed_at: float | None, now: float
    ) -> None:
        snapshot = self.snapshot
        ack = {
            "version": snapshot.version,
            "flags": snapshot.versions(),
            "applied_at": snapshot.applied_at,
            "seen_at": now,
        }
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(self.keys.replicas, self.replica_id, json.dumps(ack))
            if applied:
                log_key = self.keys.applied(self.replica_id)
                pipe.rpush(
                    log_key,
                    *(
                        json.dumps(
                            {
                                "name": s.name,
                                "version": s.version,
                                "committed_at": committed_at,
                                "applied_at": now,
                                "source": source,
                            }
                        )
                        for s in applied
                    ),
                )
                pipe.ltrim(log_key, -APPLIED_LOG_LENGTH, -1)
                pipe.expire(log_key, APPLIED_LOG_TTL_SECONDS)
            await pipe.execute()
