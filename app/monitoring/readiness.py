"""Readiness is about this replica: is it serving? Starting and draining (SIGTERM received)
are the only reasons to answer 503. A shared dependency (PostgreSQL, Redis, Kafka) being down
is reported, with its state, latency and error, and makes the replica `degraded`, never
unready: every replica shares those dependencies, so failing readiness on them would take
every pod out of the Service at once while cached reads and health still answer.

Each dependency is checked concurrently, with its own timeout, and reported with its latency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import text

from app.monitoring.metrics import DEPENDENCY_CHECK_SECONDS, DEPENDENCY_UP
from app.monitoring.pending_checks import PendingChecks
from app.resources import Resources


class Phase(StrEnum):
    STARTING = "starting"
    SERVING = "serving"
    DRAINING = "draining"


class ReplicaState:
    """Where this replica is in its life: set by the lifespan (starting → serving → draining)
    and by the server on SIGTERM (draining, before connections are closed)."""

    def __init__(self) -> None:
        self.phase = Phase.STARTING
        self.since = time.monotonic()
        self.checks = PendingChecks()  # this replica's dependency checks still running

    def enter(self, phase: Phase) -> None:
        if phase != self.phase:
            self.phase, self.since = phase, time.monotonic()

    @property
    def ready(self) -> bool:
        return self.phase is Phase.SERVING


def overall(results: list[CheckResult]) -> str:
    """`ready` when every check is up (or off by configuration), else `degraded`."""
    return "ready" if all(r.status in {"up", "off"} for r in results) else "degraded"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # up | down | off | degraded: reported, never a reason to be unready
    latency_ms: float | None = None
    error: str | None = None
    embedded: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key != "name"}


async def _timed(
    checks: PendingChecks,
    name: str,
    probe: Callable[[], Awaitable[Any]],
    limit_s: float,
    embedded: bool,
) -> CheckResult:
    started = time.perf_counter()
    try:
        await checks.run(name, probe, limit_s)
    except TimeoutError as exc:
        result = CheckResult(name, "down", None, str(exc), embedded)
    except Exception as exc:  # any failure of a dependency means "down", with its reason
        result = CheckResult(name, "down", None, _reason(exc), embedded)
    else:
        latency = round((time.perf_counter() - started) * 1000, 2)
        result = CheckResult(name, "up", latency, None, embedded)
    DEPENDENCY_UP.labels(name).set(1 if result.status == "up" else 0)
    if result.latency_ms is not None:
        DEPENDENCY_CHECK_SECONDS.labels(name).set(result.latency_ms / 1000)
    return result


def _reason(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text_}"[:300] if text_ else type(exc).__name__


async def check_dependencies(
    resources: Resources, checks: PendingChecks | None = None
) -> list[CheckResult]:
    """Every check within AURUM_READY_CHECK_TIMEOUT_SECONDS, never waiting for a stalled
    dependency (app/monitoring/pending_checks.py); `checks`: this replica's pending ones."""
    pending = checks if checks is not None else PendingChecks()
    timeout = resources.settings.ready_check_timeout_seconds
    embedded = resources.dependencies.embedded

    async def postgres() -> None:
        async with resources.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def redis() -> None:
        await resources.redis.ping()

    probes = [
        _timed(pending, "postgres", postgres, timeout, "postgres" in embedded),
        _timed(pending, "redis", redis, timeout, "redis" in embedded),
    ]
    kafka_admin = resources.kafka_admin
    if kafka_admin is not None:

        async def kafka() -> None:
            await asyncio.to_thread(kafka_admin.list_topics, timeout=timeout)

        probes.append(_timed(pending, "kafka", kafka, timeout, "kafka" in embedded))
    probes.append(_rate_limiter(resources, timeout))
    results = list(await asyncio.gather(*probes))
    if kafka_admin is None:
        off = (
            "AURUM_KAFKA_BOOTSTRAP_SERVERS not set"
            if resources.dependencies.publish
            else "AURUM_KAFKA_ENABLED is false: nothing is published, the outbox is not filled"
        )
        results.append(CheckResult("kafka", "off", error=off))
    results.append(_provider_guards(resources))
    return results


def _provider_guards(resources: Resources) -> CheckResult:
    """`degraded` while any provider's limiter, quota, breaker or cost counter works from this
    replica's memory (Redis unreachable): calls stay within 1/replicas of each limit, so this
    never makes the replica unready. No I/O: each part knows its own state."""
    degraded = [
        name
        for guard in resources.providers.guards
        for name, part in (
            ("limiter", guard.limiter),
            ("quota", guard.quota),
            ("breaker", guard.breaker),
            ("cost", guard.cost),
        )
        if part.degraded
    ]
    if not degraded:
        return CheckResult("provider_guards", "up", 0.0)
    return CheckResult(
        "provider_guards",
        "degraded",
        error=f"using per-replica state for {len(degraded)} parts (Redis unreachable)",
    )


async def _rate_limiter(resources: Resources, limit_s: float) -> CheckResult:
    """`degraded` while the limiter counts per process (its Redis is unreachable): requests
    are still served and limited, so this never makes the replica unready."""
    limiter = resources.rate_limiter
    if limiter is None:
        return CheckResult("ratelimit", "off", error="AURUM_RATE_LIMIT_ENABLED is false")
    started = time.perf_counter()
    try:
        health = await asyncio.wait_for(limiter.check(), timeout=limit_s)
    except TimeoutError:
        return CheckResult("ratelimit", "degraded", None, f"no answer within {limit_s:g}s")
    latency = round((time.perf_counter() - started) * 1000, 2)
    return CheckResult("ratelimit", health.status, latency, health.error)
