"""Counts requests against a rule's limits in fixed windows, in Redis shared by all replicas;
while Redis is unreachable, in this process's memory.

Why fixed windows (`limits`' FixedWindowRateLimiter semantics): one INCRBY per limit, whose
result is already the count the headers need. The moving window keeps one list entry per hit
and the sliding-window counter reads two windows; both need a second round-trip per limit to
report what remains. Here all of a request's limits (two by default: 100/60 s and 20/1 s) are
counted by one Lua script, and the requests of one event-loop turn share the call: at most one
Redis round-trip per request (see storage.py). A busy caller far from its limits takes a lease
of tokens in that call and spends it in memory (see leases.py for the bound): most requests
then cost no round-trip at all.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem

from app.monitoring.metrics import RATELIMIT_STORE_FALLBACK
from app.ratelimit.leases import LeaseTable
from app.ratelimit.rules import Rule, RuleSet, per_second_limit, share_of, with_override
from app.ratelimit.storage import LocalWindows, SharedWindows, WindowCount, window_key
from app.settings import Settings

log = logging.getLogger(__name__)

# While degraded, Redis is probed in the background at most this often; requests never wait
# on a Redis that is known to be down.
PROBE_INTERVAL_SECONDS = 1.0

# Per rule: (limits counted in Redis, this replica's share of them, counted in memory).
Plan = tuple[tuple[RateLimitItem, ...], tuple[RateLimitItem, ...]]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one request, reported for its tightest limit (least remaining)."""

    allowed: bool
    rule: Rule
    limit: RateLimitItem
    remaining: int
    reset_in: int  # whole seconds until that limit's window resets


@dataclass(frozen=True, slots=True)
class StoreHealth:
    status: Literal["up", "degraded"]
    error: str | None = None


async def _count(
    storage: LocalWindows, rule: Rule, limits: tuple[RateLimitItem, ...], caller_key: str
) -> Decision:
    keys = [window_key(item, rule.name, caller_key) for item in limits]
    return _decide(rule, limits, await storage.incr_windows(keys, limits))


async def _count_shared(
    leases: LeaseTable, rule: Rule, limits: tuple[RateLimitItem, ...], caller_key: str
) -> Decision:
    spent = leases.spend(rule.name, caller_key)
    if spent is None:
        keys = [window_key(item, rule.name, caller_key) for item in limits]
        result = await leases.fetch(rule.name, caller_key, keys, limits)
        if isinstance(result, list):
            # This request's own count, with the rest of any lease held back: the headers
            # show what remains once the lease is spent, as they would counted one by one.
            held = result.granted - 1
            return _decide(rule, limits, [WindowCount(c.hits - held, c.reset_at) for c in result])
        spent = result
    item, remaining, reset_at = spent
    return Decision(True, rule, item, remaining, max(0, math.ceil(reset_at - time.time())))


def _decide(rule: Rule, limits: tuple[RateLimitItem, ...], counts: list[WindowCount]) -> Decision:
    now = time.time()
    best: Decision | None = None
    for item, (hits, reset_at) in zip(limits, counts, strict=False):
        reset_in = max(0, math.ceil(reset_at - now))
        if hits > item.amount:  # counting stopped here: the request is refused
            return Decision(False, rule, item, 0, reset_in)
        remaining = item.amount - hits
        if best is None or remaining < best.remaining:
            best = Decision(True, rule, item, remaining, reset_in)
    assert best is not None  # a rule has at least one limit
    return best


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "storage_error", None) or exc  # limits wraps the client's error
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {text}"[:300] if text else type(cause).__name__


class RateLimiter:
    """Decides whether a caller may make a request under a rule.

    Built with the app (no I/O); `open()` in the lifespan creates the storage clients inside
    the running loop and `close()` releases them. With a Redis `storage_url` counters are
    shared by every replica; `memory://` keeps them per process (one replica, or benchmarks).
    """

    def __init__(
        self,
        rules: RuleSet,
        *,
        storage_url: str,
        key_prefix: str = "aurum:rl",
        timeout_seconds: float = 0.25,
        replicas: int = 1,
    ) -> None:
        self.rules = rules
        self.storage_url = storage_url
        self.key_prefix = key_prefix
        self.timeout_seconds = timeout_seconds
        self.replicas = replicas
        self._override: RateLimitItem | None = None
        self._plans = self._build_plans()
        self._shared: SharedWindows | None = None
        self._leases: LeaseTable | None = None
        self._local: LocalWindows | None = None
        self._degraded: str | None = None  # why, while counting in memory
        self._next_probe = 0.0
        self._probe: asyncio.Task[StoreHealth] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, redis_url: str) -> RateLimiter:
        """`redis_url` is the service's Redis, used unless AURUM_RATE_LIMIT_STORAGE_URL is set."""
        return cls(
            RuleSet.from_settings(settings),
            storage_url=settings.rate_limit_storage_url or redis_url,
            key_prefix=settings.rate_limit_key_prefix,
            timeout_seconds=settings.rate_limit_storage_timeout_seconds,
            replicas=settings.rate_limit_replicas,
        )

    @property
    def shared(self) -> bool:
        return not self.storage_url.startswith("memory://")

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the storages (no I/O yet: connections open on first use)."""
        self._local = LocalWindows()
        if self.shared:
            self._shared = SharedWindows(
                self.storage_url, key_prefix=self.key_prefix, timeout_seconds=self.timeout_seconds
            )
            self._leases = LeaseTable(self._shared)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        if self._local is not None:
            await self._local.reset()
        if self._shared is not None:
            await self._shared.aclose()
        self._shared = self._local = self._leases = None

    # -- runtime override ------------------------------------------------------------------

    @property
    def override(self) -> RateLimitItem | None:
        """The per-second limit set by `set_override_rps`, if any."""
        return self._override

    def set_override_rps(self, rps: float | None) -> None:
        """Replace every rule's burst limit with `rps` requests per second per caller (None
        restores the configured limits). In memory only: requests read it with no I/O. Each
        replica must be told (the runtime-config propagation does that)."""
        self._override = None if rps is None else per_second_limit(rps)
        self._plans = self._build_plans()
        if self._leases is not None:
            self._leases.clear()  # leases were granted under the old limits
        log.info(
            "rate limit override %s",
            "cleared" if rps is None else f"set to {rps:g} rps",
            extra={"override_rps": rps},
        )

    def per_second(self) -> float | None:
        """The default rule's per-second (burst) limit in force now, with the override if
        one is set; None when the rule has no window of a second or less."""
        limits = self._plans[self.rules.default.name][0]
        rates = [item.amount / item.get_expiry() for item in limits if item.get_expiry() <= 1]
        return min(rates) if rates else None

    def _build_plans(self) -> dict[str, Plan]:
        plans = {}
        for rule in self.rules.all:
            limits = with_override(rule.limits, self._override)
            plans[rule.name] = (limits, share_of(limits, self.replicas))
        return plans

    # -- the hot path ----------------------------------------------------------------------

    async def hit(self, rule: Rule, caller_key: str) -> Decision:
        """Count one request. Never raises for an unreachable store: it counts in memory."""
        shared_limits, local_limits = self._plans[rule.name]
        shared = self._leases
        if shared is not None:
            if self._degraded is None:
                try:
                    # One deadline for the whole count: a stalled store otherwise costs a
                    # connect, a read and a retry of each, and the requests batched behind it.
                    async with asyncio.timeout(self.timeout_seconds):
                        return await _count_shared(shared, rule, shared_limits, caller_key)
                except Exception as exc:  # any store failure: serve the request, count locally
                    self._degrade(_reason(exc))
            else:
                self._probe_soon()
            RATELIMIT_STORE_FALLBACK.inc()
        if self._local is None:
            raise RuntimeError("RateLimiter.open() was not awaited (the app lifespan does it)")
        limits = local_limits if shared is not None else shared_limits
        return await _count(self._local, rule, limits, caller_key)

    # -- degradation -----------------------------------------------------------------------

    @property
    def degraded(self) -> str | None:
        """Why counting is per-process right now, or None when Redis counts."""
        return self._degraded

    def _degrade(self, reason: str) -> None:
        if self._degraded is None:
            log.warning(
                "rate limiter store unreachable; counting in process memory until it answers",
                extra={"reason": reason},
            )
        self._degraded = reason
        self._next_probe = time.monotonic() + PROBE_INTERVAL_SECONDS

    def _recover(self) -> None:
        if self._degraded is not None:
            log.info("rate limiter store answers again; counting in Redis")
        self._degraded = None

    def _probe_soon(self) -> None:
        now = time.monotonic()
        if now < self._next_probe or (self._probe is not None and not self._probe.done()):
            return
        self._next_probe = now + PROBE_INTERVAL_SECONDS
        self._probe = asyncio.create_task(self.check(), name="ratelimit-store-probe")

    async def check(self) -> StoreHealth:
        """Ping the shared store (readiness and the background probe), recording the result."""
        if self._shared is None:
            return StoreHealth("up")
        try:
            await self._shared.ping()
        except Exception as exc:  # unreachable, timed out, refused: all mean "degraded"
            self._degrade(_reason(exc))
        else:
            self._recover()
        return self.health()

    def health(self) -> StoreHealth:
        if self._degraded is None:
            return StoreHealth("up")
        return StoreHealth(
            "degraded",
            f"limits are counted per process while the limiter's Redis is unreachable "
            f"({self._degraded})",
        )
