"""Dependency checks for the health view, cached per replica and refreshed in the background.

A Kafka metadata call takes tens of milliseconds to seconds; the health view must answer in a
few. So checks (the readiness checks plus the scheduler leader) run in a background task every
REFRESH_SECONDS while someone reads health, and requests read the last result with its
`as_of` and `age_seconds`; a result older than a round and its timeouts (a check hangs) is
marked `stale`. The first request waits at most FIRST_WAIT_SECONDS for the first round; the
task stops after IDLE_SECONDS without readers.

It also keeps the Redis side of the health view as last read (`redis_state`,
app/health/last_known.py), shown when Redis does not answer in time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from app.health.last_known import LastKnown
from app.jobs.status import leader_status
from app.monitoring.pending_checks import PendingChecks
from app.monitoring.readiness import check_dependencies
from app.resources import Resources

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
IDLE_SECONDS = 120.0
FIRST_WAIT_SECONDS = 1.0
SHOWN = ("postgres", "redis", "kafka")


class DependencyCache:
    def __init__(self, resources: Resources, checks: PendingChecks | None = None) -> None:
        self._resources = resources
        self._checks = checks if checks is not None else PendingChecks()
        self._value: dict[str, Any] | None = None
        self._checked_at = 0.0
        self._read_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._first = asyncio.Event()
        self._as_of: str | None = None
        self.redis_state = LastKnown()

    async def get(self) -> dict[str, Any]:
        self._read_at = time.monotonic()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="health-dependencies")
        if self._value is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._first.wait()), FIRST_WAIT_SECONDS)
        if self._value is None:
            return {name: {"status": "unknown", "checked_at": None} for name in SHOWN}
        age = round(time.monotonic() - self._checked_at, 3)
        limit = REFRESH_SECONDS + 2 * self._resources.settings.ready_check_timeout_seconds
        extra = {"as_of": self._as_of, "age_seconds": age, "stale": age > limit}
        return {name: entry | extra for name, entry in self._value.items()}

    async def _loop(self) -> None:
        while time.monotonic() - self._read_at < IDLE_SECONDS:
            try:
                await self.refresh()
            except Exception:  # a failed round keeps the previous one; the next may succeed
                log.warning("health dependency checks failed", exc_info=True)
            await asyncio.sleep(REFRESH_SECONDS)

    async def refresh(self) -> None:
        started = time.perf_counter()
        checks, leader = await asyncio.gather(
            check_dependencies(self._resources, self._checks), self._leader()
        )
        value: dict[str, Any] = {}
        for result in checks:
            if result.name in SHOWN:
                value[result.name] = {
                    "status": result.status,
                    "latency_ms": result.latency_ms,
                    "error": result.error,
                }
        value["scheduler"] = leader
        self._value = value
        self._checked_at = time.monotonic()
        self._as_of = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._first.set()
        log.debug("health dependencies refreshed in %.1f ms", (time.perf_counter() - started) * 1e3)

    async def _leader(self) -> dict[str, Any]:
        started = time.perf_counter()
        timeout = self._resources.settings.ready_check_timeout_seconds
        try:
            status = await self._checks.run(
                "leader", lambda: leader_status(self._resources), timeout
            )
        except TimeoutError as exc:
            return {"status": "unknown", "latency_ms": None, "error": f"PostgreSQL: {exc}"}
        alive = status["leader_alive"]
        enabled = status["enabled"]
        return {
            "status": "up" if alive else ("off" if not enabled else "down"),
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "leader": status["leader"],
            "is_leader": status["is_leader"],
            "leader_heartbeat_at": _iso(status["leader_heartbeat_at"]),
            "error": None if alive or not enabled else "no replica holds the scheduler lock",
        }

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
