"""A circuit breaker per provider, its state shared by every replica in Redis.

CLOSED → OPEN after `failure_threshold` consecutive failures, or when failures reach
`failure_rate_threshold` of the calls in the last `window_seconds` (once the window holds
`minimum_calls`). OPEN refuses calls for `open_seconds`; then HALF_OPEN lets at most
`half_open_max_calls` probe calls through at a time: `success_threshold` consecutive probe
successes close it, any probe failure re-opens it. Operators can force it open or disable it
(everything passes, nothing is recorded), each optionally for `ttl_seconds` (stored in Redis, so
it reverts to CLOSED even if the replica that set it is gone), and reset it to CLOSED.

A call is one request with its retries: one permit, `admits()` before each retry, one verdict
at its end; thresholds count failed calls, not attempts (a probe is one call too).

Callers report only provider failures: 5xx, 429, timeouts, connection errors, error or
throttle bodies. A client error (4xx other than 429) says the request was wrong, not that the
provider is unhealthy: report nothing, and `release()` the permit.

While Redis is unreachable the breaker runs the same transitions in process memory, starting
from the last state it read from Redis, and reports `degraded`; it checks Redis in the
background at most once a second and, once it answers, Redis's state is used again (what
happened in memory meanwhile is dropped: it was one replica's view). It never raises because
Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.errors import InvalidInput
from app.monitoring.metrics import (
    EXTERNAL_BREAKER_REFUSED,
    EXTERNAL_BREAKER_STATE,
    EXTERNAL_BREAKER_STORE_FALLBACK,
    EXTERNAL_BREAKER_TRANSITIONS,
)
from app.resilience.breaker_store import (
    MAX_EVENTS,
    LocalStore,
    Op,
    Record,
    RedisStore,
    Step,
    StepResult,
)
from app.resilience.breaker_views import iso, refusal, snapshot_view
from app.resilience.config import BreakerConfig
from app.resilience.errors import CircuitOpen

log = logging.getLogger(__name__)

# While degraded, Redis is pinged in the background at most this often.
PROBE_INTERVAL_SECONDS = 1.0
# A half-open probe that never reports (its replica died mid-call) frees its slot after this.
PROBE_LEASE_SECONDS = 120.0

# Told every transition this replica made: (provider, from_state, to_state, reason).
TransitionListener = Callable[[str, str, str, str | None], Awaitable[None]]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Permit:
    """What `before_call()` let through. Pass it back to `record_*` or `release`, so a result
    counts only against the state that admitted the call and a probe frees its slot."""

    state: BreakerState
    probe: bool  # a HALF_OPEN probe: report its result, or release() it if cancelled
    generation: int


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class CircuitBreaker:
    """One provider's breaker. `redis` is the service's client (decode_responses=True);
    `replica` names this process in transition events; `clock` gives epoch seconds."""

    def __init__(
        self,
        redis: Redis,
        provider: str,
        config: BreakerConfig,
        *,
        replica: str | None = None,
        clock: Callable[[], float] | None = None,
        store_timeout_seconds: float = 0.5,
        probe_lease_seconds: float = PROBE_LEASE_SECONDS,
    ) -> None:
        self.provider = provider
        self.config = config
        self.replica = replica
        self._redis = redis
        self._clock = clock or time.time
        self._store_timeout = store_timeout_seconds
        self._probe_lease = probe_lease_seconds
        self._shared = RedisStore(redis, provider, replica=replica)
        self._local: LocalStore | None = None  # set while Redis is unreachable
        self._degraded: str | None = None
        self._last_record: Record | None = None
        self._next_ping = 0.0
        self._ping: asyncio.Task[None] | None = None
        # Label children resolved once: every call sets the state gauge.
        self._state_gauges = {
            s.value: EXTERNAL_BREAKER_STATE.labels(provider, s.value) for s in BreakerState
        }
        self._refused = EXTERNAL_BREAKER_REFUSED.labels(provider)
        self._fallbacks = EXTERNAL_BREAKER_STORE_FALLBACK.labels(provider)
        self.on_transition: TransitionListener | None = None

    # -- the call path -----------------------------------------------------------------------

    async def before_call(self) -> Permit:
        """Admit a call or raise CircuitOpen (OPEN, FORCED_OPEN, or HALF_OPEN with every probe
        slot taken). Performs OPEN→HALF_OPEN once the open period has passed."""
        result = await self._run("before")
        record = result.record
        state = BreakerState(record.state)
        if result.admitted:
            return Permit(state=state, probe=result.probe, generation=record.gen)
        self._refused.inc()
        raise self._refusal(record, state)

    async def record_success(self, permit: Permit | None = None) -> None:
        """The provider answered usefully."""
        await self._run("success", permit=permit)

    async def record_failure(self, reason: str, permit: Permit | None = None) -> None:
        """The provider failed (5xx, 429, timeout, connection error, error or throttle body);
        `reason` is short and shown to operators, e.g. `HTTP 503` or `timeout`. Never report
        a client error (4xx other than 429) here."""
        await self._run("failure", permit=permit, reason=reason[:200])

    async def admits(self, permit: Permit) -> bool:
        """Whether a call admitted with `permit` may make another attempt (a retry): yes while
        the breaker has not moved since, or is closed or disabled now; no once another call or
        an operator opened it. Counts nothing."""
        record = (await self._run("read")).record
        if record.gen == permit.generation:
            return True
        return record.state in (BreakerState.CLOSED.value, BreakerState.DISABLED.value)

    async def release(self, permit: Permit) -> None:
        """A call that ended without a verdict (cancelled, or a client error): a probe frees its
        slot; nothing is counted."""
        if permit.probe:
            await self._run("release", permit=permit)

    # -- operator actions ----------------------------------------------------------------------

    async def force_open(
        self, *, actor: str, reason: str | None = None, ttl_seconds: float | None = None
    ) -> dict[str, Any]:
        """Refuse every call until reset (or for `ttl_seconds`); returns the new snapshot."""
        _check_ttl(ttl_seconds)
        return self._snapshot(
            await self._run("force_open", actor=actor, reason=reason, ttl=ttl_seconds)
        )

    async def disable(
        self, *, actor: str, reason: str | None = None, ttl_seconds: float | None = None
    ) -> dict[str, Any]:
        """Let every call through and record nothing until reset (or for `ttl_seconds`)."""
        _check_ttl(ttl_seconds)
        return self._snapshot(
            await self._run("disable", actor=actor, reason=reason, ttl=ttl_seconds)
        )

    async def reset(self, *, actor: str, reason: str | None = None) -> dict[str, Any]:
        """Back to CLOSED, counters and failure window cleared."""
        return self._snapshot(await self._run("reset", actor=actor, reason=reason))

    # -- reading -------------------------------------------------------------------------------

    async def snapshot(self) -> dict[str, Any]:
        """The state as operators read it (applies expired TTLs and OPEN→HALF_OPEN first)."""
        return self._snapshot(await self._run("read"))

    async def queue_snapshot(self, pipe: Any) -> bool:
        """Queue snapshot()'s script on a pipeline; False while degraded (call snapshot())."""
        if self._local is None:
            await self._shared.queue_read(pipe, self._clock(), self.config, self._probe_lease)
        return self._local is None

    def snapshot_from(self, raw: Any) -> dict[str, Any]:
        self._last_record = (result := RedisStore.parse(raw)).record
        return self._snapshot(self._observe(result))

    async def events(self, limit: int = 20) -> list[dict[str, Any]]:
        """Transitions, newest first: {time, from, to, reason, actor, replica}."""
        limit = max(1, min(limit, MAX_EVENTS))
        if self._local is None:
            try:
                async with asyncio.timeout(self._store_timeout):
                    return await self._shared.events(limit)
            except (RedisError, OSError, TimeoutError) as exc:
                self._degrade(exc)
        else:
            self._ping_soon()
        self._fallbacks.inc()
        assert self._local is not None
        return await self._local.events(limit)

    @property
    def degraded(self) -> bool:
        """True while state is kept in this process because Redis is unreachable."""
        return self._local is not None

    @property
    def degraded_reason(self) -> str | None:
        return self._degraded

    async def aclose(self) -> None:
        """Stop a background Redis check, if one is running (the client is the caller's)."""
        if self._ping is not None:
            self._ping.cancel()
            await asyncio.gather(self._ping, return_exceptions=True)
            self._ping = None

    # -- internals -----------------------------------------------------------------------------

    async def _run(
        self,
        op: Op,
        *,
        permit: Permit | None = None,
        actor: str = "system",
        reason: str | None = None,
        ttl: float | None = None,
    ) -> StepResult:
        now = self._clock()
        step = Step(
            op=op,
            now=now,
            now_iso=iso(now) or "",
            actor=actor,
            reason=reason,
            ttl=ttl,
            permit_gen=None if permit is None else permit.generation,
            permit_probe=permit is not None and permit.probe,
        )
        if self._local is None:
            try:
                async with asyncio.timeout(self._store_timeout):
                    result = await self._shared.run(step, self.config, self._probe_lease)
            except (RedisError, OSError, TimeoutError) as exc:
                self._degrade(exc)
            else:
                self._last_record = result.record
                return await self._notify(self._observe(result))
        else:
            self._ping_soon()
        self._fallbacks.inc()
        assert self._local is not None
        local = await self._local.run(step, self.config, self._probe_lease)
        return await self._notify(self._observe(local))

    async def _notify(self, result: StepResult) -> StepResult:
        if self.on_transition is not None:
            for source, target in result.transitions:
                await self.on_transition(self.provider, source, target, result.record.reason)
        return result

    def _observe(self, result: StepResult) -> StepResult:
        for source, target in result.transitions:
            if source != target:
                EXTERNAL_BREAKER_TRANSITIONS.labels(self.provider, source, target).inc()
            level = logging.WARNING if target in ("open", "forced_open") else logging.INFO
            log.log(
                level,
                "circuit breaker %s: %s -> %s",
                self.provider,
                source,
                target,
                extra={
                    "provider": self.provider,
                    "from_state": source,
                    "to_state": target,
                    "reason": result.record.reason,
                    "actor": result.record.actor,
                    "degraded": self.degraded,
                },
            )
        for state, gauge in self._state_gauges.items():
            gauge.set(1 if state == result.record.state else 0)
        return result

    def _degrade(self, exc: BaseException) -> None:
        self._degraded = _reason(exc)
        self._next_ping = time.monotonic() + PROBE_INTERVAL_SECONDS
        if self._local is None:
            self._local = LocalStore(self._last_record, replica=self.replica)
            log.warning(
                "circuit breaker %s: Redis unreachable; keeping state in this process until it "
                "answers",
                self.provider,
                extra={"provider": self.provider, "reason": self._degraded},
            )

    def _ping_soon(self) -> None:
        now = time.monotonic()
        if now < self._next_ping or (self._ping is not None and not self._ping.done()):
            return
        self._next_ping = now + PROBE_INTERVAL_SECONDS
        self._ping = asyncio.create_task(self._check(), name=f"breaker-{self.provider}-ping")

    async def _check(self) -> None:
        try:
            async with asyncio.timeout(self._store_timeout):
                await self._redis.ping()
        except (RedisError, OSError, TimeoutError) as exc:
            self._degraded = _reason(exc)
            return
        if self._local is not None:
            log.info(
                "circuit breaker %s: Redis answers again; using the shared state",
                self.provider,
                extra={"provider": self.provider},
            )
        self._local = None
        self._degraded = None

    def _refusal(self, record: Record, state: BreakerState) -> CircuitOpen:
        return refusal(self.provider, record, state.value, self._clock(), self.degraded)

    def _snapshot(self, result: StepResult) -> dict[str, Any]:
        return snapshot_view(self.provider, self.config, result, self._degraded, self.degraded)


def _check_ttl(ttl_seconds: float | None) -> None:
    if ttl_seconds is not None and not (ttl_seconds > 0 and math.isfinite(ttl_seconds)):
        raise InvalidInput(f"ttl_seconds must be a positive number of seconds (got {ttl_seconds})")
