"""The outbound limiter's arithmetic in this process: GCRA with reservations and the adaptive
(AIMD) state. Used while Redis is unreachable, at this replica's share of the limit, and as the
benchmark's naive reference. The Lua scripts in limiter_scripts.py do the same in Redis;
keep the two in step.

GCRA (generic cell rate algorithm): one number, the theoretical arrival time (TAT) of the next
request. With spacing T = 1/rate and tolerance tau = (burst - 1) * T, a request may go at
max(TAT, now) - tau; reserving it moves TAT on by T. A caller that must wait is given its slot
at once and sleeps until then, so one decision per request and no polling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.resilience.config import RateConfig

# Throttle signals within this long of the last cut are one episode (the requests that were in
# flight when the provider pushed back): the rate is cut once, not once per 429.
THROTTLE_COOLDOWN_SECONDS = 1.0
# Floating point: 0.5 + 5 * 0.1 is 0.9999999999999999, which is full rate.
FULL = 1.0 - 1e-9


def throttle_cooldown(rate: RateConfig) -> float:
    return min(THROTTLE_COOLDOWN_SECONDS, rate.recover_after_seconds)


def spacing(requests_per_second: float, margin: float) -> float:
    """Seconds between requests at `requests_per_second`, widened by `margin` (a fraction)."""
    return (1.0 + margin) / requests_per_second


@dataclass(frozen=True, slots=True)
class Reservation:
    granted: bool
    wait: float  # seconds until the slot (when not granted: the wait that was refused)


class LocalGcra:
    """A GCRA bucket in this process, on the monotonic clock."""

    def __init__(self) -> None:
        self._tat = 0.0

    def reserve(
        self,
        *,
        interval: float,
        burst: int,
        max_wait: float,
        not_before: float = 0.0,
        now: float | None = None,
    ) -> Reservation:
        """Reserve the next slot unless it is more than `max_wait` away. `not_before` (a
        monotonic time) blocks every slot before it, with no burst after it."""
        now = time.monotonic() if now is None else now
        tau = (burst - 1) * interval
        base = max(self._tat, now)
        if not_before > now:
            base = max(base, not_before + tau)
        wait = max(0.0, base - tau - now)
        if wait > max_wait:
            return Reservation(False, wait)
        self._tat = base + interval
        return Reservation(True, wait)

    def tokens(self, *, interval: float, burst: int, now: float | None = None) -> float:
        """Requests that could go at once now (fractional: the next one's progress)."""
        now = time.monotonic() if now is None else now
        return available_tokens(self._tat - now, interval, burst)


def available_tokens(tat_ahead: float, interval: float, burst: int) -> float:
    """GCRA has no token count; this is the equivalent bucket's level, given how far the TAT
    is ahead of now."""
    tau = (burst - 1) * interval
    return max(0.0, min(float(burst), (tau - max(0.0, tat_ahead)) / interval + 1.0))


@dataclass(slots=True)
class AdaptiveState:
    """Multiplicative decrease on a throttle signal, additive recovery after a quiet period.
    Times are monotonic seconds; None means never."""

    multiplier: float = 1.0
    throttled_at: float | None = None
    decreased_at: float | None = None
    recovered_at: float | None = None
    blocked_until: float = 0.0

    def throttle(
        self, rate: RateConfig, retry_after: float | None, now: float | None = None
    ) -> bool:
        """Record a throttle signal; True when it cut the rate."""
        now = time.monotonic() if now is None else now
        cut = False
        if rate.adaptive:
            self.throttled_at = now
            quiet = self.decreased_at is None or now - self.decreased_at >= throttle_cooldown(rate)
            if quiet:
                self.multiplier = max(self.multiplier * rate.decrease_factor, rate.min_fraction)
                self.decreased_at = now
                cut = True
        if retry_after is not None:
            self.blocked_until = max(self.blocked_until, now + retry_after)
        return cut

    def recover(self, rate: RateConfig, now: float | None = None) -> bool:
        """One recovery step if the quiet period has passed; True when it stepped."""
        now = time.monotonic() if now is None else now
        due = self.recovery_due(rate.recover_after_seconds)
        if not rate.adaptive or self.multiplier >= FULL or now < due:
            return False
        self.multiplier = min(1.0, self.multiplier + rate.recover_step)
        if self.multiplier >= FULL:
            self.multiplier = 1.0
        self.recovered_at = now
        return True

    def recovery_due(self, recover_after: float) -> float:
        """When the next recovery step may happen (monotonic): `recover_after` seconds after
        both the last throttle signal and the last step."""
        return max(self.throttled_at or 0.0, self.recovered_at or 0.0) + recover_after

    def effective(self, rate: RateConfig) -> float:
        return max(self.multiplier, rate.min_fraction) if rate.adaptive else 1.0
