"""Outbound rate limiter: requests to one provider, per credential, spaced in time and shared
by every replica through Redis.

- **GCRA with reservations** (see local_limiter.py): `acquire()` makes one atomic Lua call
  (one round-trip) that reads the override and adaptive state, reserves the caller's slot and
  returns how long to wait; the caller then sleeps (asyncio) and goes. No polling, so waiting
  callers on every replica are served in order of arrival.
- **Adaptive**: `on_throttled()` halves (by default) the effective rate and, given a
  Retry-After, blocks every replica's acquires until then; `on_success()` steps the rate back
  up after a quiet period. The state is a Redis hash read by the acquire script.
- **Override**: `set_rate()` stores a provider-wide rate/burst in Redis; every replica's next
  acquire uses it.
- **Quota throttling**: `acquire(throttle_factor=0.5)` spaces this request at half the rate;
  the client passes `ProviderQuota.throttle_factor()` (1.0 normally, 0.5 once a quota window
  is critical).
- **Margin**: spacing is widened by `margin` (2 % by default) so that the jitter between a
  slot and the request reaching the provider (event-loop wake-up, HTTP client, network) does
  not put `rate + 1` requests into one second of the provider's clock.
- **Redis down**: each replica spaces requests in memory at its share (rate / replicas,
  burst / replicas, at least 1) from the last state it saw; `degraded` is True and Redis is
  probed once a second. An acquire never fails because Redis is down.

Slots are reserved before the sleep: a caller cancelled while waiting leaves its slot unused,
and a Retry-After reported after a slot was reserved on another replica does not move that
slot (this replica's waiting callers are held back until the block ends).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from app.errors import InvalidInput, ServiceUnavailable
from app.monitoring import metrics
from app.resilience import limiter_scripts as lua
from app.resilience.config import RateConfig, ResilienceConfig
from app.resilience.errors import ProviderCallError
from app.resilience.limiter_state import US, SeenState, number
from app.resilience.local_limiter import LocalGcra, available_tokens, spacing, throttle_cooldown
from app.resilience.redis_guard import REDIS_FAILURES, RedisGuard, RedisUnavailable

log = logging.getLogger(__name__)

DEFAULT_MAX_WAIT_SECONDS = 30.0
DEFAULT_MARGIN = 0.02
DEFAULT_REDIS_TIMEOUT_SECONDS = 0.25
ADAPTIVE_TTL_SECONDS = 86_400  # an idle provider's adaptive state is forgotten after a day


class RateLimitWaitExceeded(ProviderCallError):
    """The limiter would make this request wait longer than the caller allows."""

    status_code = 429
    code = "rate_limit_wait_exceeded"


def credential_fingerprint(secret: str) -> str:
    """A stable, non-secret name for a credential (for the `credential` argument and keys)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class OutboundRateLimiter:
    """Spaces one provider credential's requests; shared by replicas through `redis`."""

    def __init__(
        self,
        redis: Redis,
        *,
        provider: str,
        rate: RateConfig,
        credential: str = "default",
        replicas: int = 1,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        margin: float = DEFAULT_MARGIN,
        redis_timeout: float = DEFAULT_REDIS_TIMEOUT_SECONDS,
    ) -> None:
        if rate.requests_per_second <= 0 or rate.burst < 1:
            raise ValueError(f"{provider}: requests_per_second must be > 0 and burst >= 1")
        if replicas < 1 or margin < 0 or max_wait < 0:
            raise ValueError("replicas must be >= 1, margin and max_wait >= 0")
        self.provider = provider
        self.credential = credential
        self.rate = rate
        self.replicas = replicas
        self.max_wait = max_wait
        self.margin = margin
        self.bucket_key = f"resilience:limiter:{provider}:{credential}"
        self.adaptive_key = f"resilience:adaptive:{provider}:{credential}"
        self.override_key = f"resilience:overrides:{provider}"
        self._redis = redis
        self._guard = RedisGuard(redis, provider=provider, part="limiter", timeout=redis_timeout)
        self._acquire = redis.register_script(lua.ACQUIRE)
        self._throttled = redis.register_script(lua.THROTTLED)
        self._recovered = redis.register_script(lua.RECOVERED)
        self._state = redis.register_script(lua.STATE)
        self._seen = SeenState(rate, replicas)
        self._local = LocalGcra()  # the fallback's bucket
        self._next_recovery_check = 0.0
        self.last_round_trip_seconds = 0.0  # the last acquire's script call (diagnostics)
        # Set from the `adaptive_rate_limiting` flag: False turns adaptation off at runtime.
        self.adaptive_switch: Callable[[], bool] | None = None

    @classmethod
    def from_config(
        cls, redis: Redis, config: ResilienceConfig, *, credential: str = "default", **kwargs: Any
    ) -> OutboundRateLimiter:
        return cls(
            redis,
            provider=config.provider,
            rate=config.rate,
            credential=credential,
            replicas=config.replicas,
            **kwargs,
        )

    @property
    def adaptive(self) -> bool:
        """Adaptive per the provider file, unless switched off at runtime."""
        switch = self.adaptive_switch
        return self.rate.adaptive and (switch is None or switch())

    @property
    def degraded(self) -> bool:
        """True while this replica spaces requests in memory (Redis unreachable)."""
        return self._guard.degraded

    # -- acquire ---------------------------------------------------------------------------

    async def acquire(
        self, *, max_wait: float | None = None, throttle_factor: float = 1.0
    ) -> float:
        """Wait until this request may go; return the delay imposed (seconds, 0 when it went at
        once). `throttle_factor` in (0, 1] spaces it at that fraction of the rate. Raises
        RateLimitWaitExceeded (429), reserving nothing, when the wait would exceed `max_wait`
        (default: the limiter's). Never raises because Redis is down."""
        if not 0 < throttle_factor <= 1:
            raise ValueError("throttle_factor must be in (0, 1]")
        limit = self.max_wait if max_wait is None else max_wait
        wait: float | None = None
        if self._guard.usable():
            wait = await self._reserve_shared(limit, throttle_factor)
        if wait is None:
            wait = self._reserve_local(limit, throttle_factor)
        metrics.EXTERNAL_RATELIMIT_WAIT_SECONDS.labels(self.provider).observe(wait)
        deadline = time.monotonic() + wait
        while True:
            # A Retry-After learnt while this caller slept holds it back too.
            remaining = max(deadline, self._seen.adaptive.blocked_until) - time.monotonic()
            if remaining <= 0:
                return wait
            await asyncio.sleep(remaining)

    async def _reserve_shared(self, limit: float, factor: float) -> float | None:
        """The wait for a slot reserved in Redis; None when Redis did not answer."""
        rate = self.rate
        args = [
            rate.requests_per_second,
            rate.burst,
            1 if self.adaptive else 0,
            rate.min_fraction,
            factor,
            self.margin,
            int(limit * US),
        ]
        keys = [self.bucket_key, self.adaptive_key, self.override_key]
        started = time.perf_counter()
        try:
            reply = await self._guard.run(self._acquire(keys=keys, args=args))
        except RedisUnavailable:
            return None
        self.last_round_trip_seconds = time.perf_counter() - started
        granted, wait_us, mult, blocked_us, o_rps, o_burst = reply
        self._learn(float(mult), int(blocked_us), number(o_rps), number(o_burst))
        wait = int(wait_us) / US
        if not int(granted):
            raise self._wait_exceeded(wait, limit)
        return wait

    def _reserve_local(self, limit: float, factor: float) -> float:
        metrics.EXTERNAL_RATELIMIT_FALLBACK.labels(self.provider).inc()
        rps, burst = self._seen.share()
        reservation = self._local.reserve(
            interval=spacing(rps * factor, self.margin),
            burst=burst,
            max_wait=limit,
            not_before=self._seen.adaptive.blocked_until,
        )
        if not reservation.granted:
            raise self._wait_exceeded(reservation.wait, limit)
        return reservation.wait

    def _learn(
        self, mult: float, blocked_us: float, o_rps: float | None, o_burst: float | None
    ) -> None:
        self._seen.remember(mult, blocked_us, o_rps, o_burst)
        metrics.EXTERNAL_RATELIMIT_EFFECTIVE_RPS.labels(self.provider).set(
            self._seen.effective_rps()
        )

    def _wait_exceeded(self, wait: float, limit: float) -> RateLimitWaitExceeded:
        metrics.EXTERNAL_RATELIMIT_WAIT_EXCEEDED.labels(self.provider).inc()
        retry = max(1, round(wait))
        return RateLimitWaitExceeded(
            f"{self.provider}: the outbound rate limit would delay this request {wait:.2f} s, "
            f"more than the {limit:g} s allowed; retry in {retry} s.",
            details={
                "provider": self.provider,
                "wait_seconds": round(wait, 3),
                "max_wait_seconds": limit,
                "degraded": self.degraded,
            },
            headers={"Retry-After": str(retry)},
        )

    # -- adaptive signals ------------------------------------------------------------------

    async def on_throttled(self, retry_after: float | None = None) -> None:
        """The provider said slow down (429 or a throttle body). Cuts the effective rate (when
        adaptive; once per episode) and, given `retry_after` seconds, blocks every replica's
        acquires until then (adaptive or not: it is the provider's instruction)."""
        metrics.EXTERNAL_RATELIMIT_THROTTLED.labels(self.provider).inc()
        rate, seen = self.rate, self._seen
        now = time.monotonic()
        self._next_recovery_check = now + rate.recover_after_seconds
        cut: bool | None = None
        if self._guard.usable():
            args = [
                1 if self.adaptive else 0,
                rate.decrease_factor,
                rate.min_fraction,
                int(throttle_cooldown(rate) * US),
                -1 if retry_after is None else int(retry_after * US),
                max(ADAPTIVE_TTL_SECONDS, int(retry_after or 0) + 60),
            ]
            try:
                reply = await self._guard.run(self._throttled(keys=[self.adaptive_key], args=args))
            except RedisUnavailable:
                pass
            else:
                cut = bool(int(reply[0]))
                if self.adaptive:
                    seen.adaptive.throttled_at = now
                self._learn(float(reply[1]), int(reply[2]), seen.override_rps, seen.override_burst)
        if cut is None:
            cut = seen.adaptive.throttle(rate, retry_after, now)
        if cut or retry_after:
            log.warning(
                "%s throttled us: rate multiplier %.2f, blocked for %s s",
                self.provider,
                seen.adaptive.effective(rate),
                retry_after,
                extra={"provider": self.provider, "retry_after": retry_after},
            )

    async def on_success(self) -> None:
        """A request went through unthrottled. Steps the rate back up by `recover_step` once
        `recover_after_seconds` have passed since the last throttle and the last step. Costs
        a Redis call only while the rate is reduced, at most once per quiet period."""
        rate, seen = self.rate, self._seen
        now = time.monotonic()
        if not self.adaptive or seen.adaptive.multiplier >= 1 or now < self._next_recovery_check:
            return
        if self._guard.usable():
            args = [int(rate.recover_after_seconds * US), rate.recover_step, ADAPTIVE_TTL_SECONDS]
            try:
                reply = await self._guard.run(self._recovered(keys=[self.adaptive_key], args=args))
            except RedisUnavailable:
                pass
            else:
                mult, due_us = float(reply[0]), int(reply[1])
                if mult > seen.adaptive.multiplier:
                    seen.adaptive.recovered_at = now
                self._learn(mult, 0, seen.override_rps, seen.override_burst)
                self._next_recovery_check = now + due_us / US
                return
        seen.adaptive.recover(rate, now)
        self._next_recovery_check = seen.adaptive.recovery_due(rate.recover_after_seconds)

    # -- admin -----------------------------------------------------------------------------

    async def set_rate(self, requests_per_second: float | None, burst: int | None = None) -> None:
        """Override the provider's rate and burst on every replica (all its credentials).
        Each argument replaces its field; None clears it (both None: back to the
        configuration). Raises InvalidInput (422) for bad values and ServiceUnavailable (503)
        when Redis is unreachable (nothing changed then)."""
        if requests_per_second is not None and not requests_per_second > 0:
            raise InvalidInput("requests_per_second must be greater than 0")
        if burst is not None and burst < 1:
            raise InvalidInput("burst must be at least 1")
        pipe = self._redis.pipeline(transaction=True)
        if requests_per_second is None:
            pipe.hdel(self.override_key, "requests_per_second")
        else:
            pipe.hset(self.override_key, "requests_per_second", repr(float(requests_per_second)))
        if burst is None:
            pipe.hdel(self.override_key, "burst")
        else:
            pipe.hset(self.override_key, "burst", int(burst))
        try:
            async with asyncio.timeout(self._guard.timeout * 4):
                await pipe.execute()
        except REDIS_FAILURES as exc:
            raise ServiceUnavailable(
                f"{self.provider}: the rate override was not stored, Redis is unreachable "
                f"({type(exc).__name__}); nothing changed."
            ) from exc
        self._learn(self._seen.adaptive.multiplier, 0, requests_per_second, burst)
        log.info(
            "%s outbound rate override: %s rps, burst %s",
            self.provider,
            requests_per_second,
            burst,
            extra={"provider": self.provider, "rps": requests_per_second, "burst": burst},
        )

    async def state(self) -> dict[str, Any]:
        """This limiter as the admin API shows it: one Redis round-trip, or while degraded the
        last state seen, with tokens of this replica's share."""
        view: dict[str, Any] | None = None
        if self._guard.usable():
            keys = [self.bucket_key, self.adaptive_key, self.override_key]
            try:
                reply = await self._guard.run(self._state(keys=keys))
            except RedisUnavailable:
                pass
            else:
                view = self._shared_view(*reply)
        if view is None:
            rps, burst = self._seen.share()
            tokens = self._local.tokens(interval=spacing(rps, self.margin), burst=burst)
            throttled, recovered, blocked = self._seen.local_times()
            view = self._seen.describe(
                tokens=tokens, throttled_at=throttled, recovered_at=recovered, blocked_until=blocked
            )
        return {
            "provider": self.provider,
            "credential": self.credential,
            **view,
            "degraded": self.degraded,
            "degraded_reason": self._guard.reason,
        }

    async def queue_state(self, pipe: Any) -> bool:
        """Queue state()'s script on a pipeline; False while degraded: call state() instead."""
        if self.degraded:
            return False
        keys = [self.bucket_key, self.adaptive_key, self.override_key]
        await self._state(keys=keys, client=pipe)
        return True

    def state_from(self, reply: Any) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "credential": self.credential,
            **self._shared_view(*reply),
            "degraded": self.degraded,
            "degraded_reason": self._guard.reason,
        }

    def _shared_view(
        self, now_us: Any, tat: Any, adaptive: list[Any], override: list[Any]
    ) -> dict[str, Any]:
        now = int(now_us) / US
        mult, throttled, recovered, blocked = (number(v) for v in adaptive)
        blocked_us = max(0.0, (blocked or 0.0) - int(now_us))
        self._learn(mult or 1.0, blocked_us, number(override[0]), number(override[1]))
        burst = self._seen.base()[1]
        interval = spacing(self._seen.effective_rps(), self.margin)
        tat_seconds = number(tat)
        ahead = 0.0 if tat_seconds is None else tat_seconds / US - now
        return self._seen.describe(
            tokens=available_tokens(ahead, interval, burst),
            throttled_at=None if throttled is None else throttled / US,
            recovered_at=None if recovered is None else recovered / US,
            blocked_until=blocked / US if blocked_us > 0 and blocked is not None else None,
        )

    async def aclose(self) -> None:
        """Stop the background Redis probe (the Redis client is the caller's)."""
        await self._guard.aclose()
