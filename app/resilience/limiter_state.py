"""The shared limiter state as this replica last saw it (override, adaptive multiplier,
Retry-After block), learnt from every script reply. The fallback spaces requests from it while
Redis is unreachable, and the admin view is built from it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from app.resilience.config import RateConfig
from app.resilience.local_limiter import AdaptiveState

US = 1_000_000


def iso(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds")


def number(raw: Any) -> float | None:
    """A script reply field: None for nil or ""."""
    return None if raw is None or raw in ("", b"") else float(raw)


class SeenState:
    def __init__(self, rate: RateConfig, replicas: int) -> None:
        self.rate = rate
        self.replicas = replicas
        self.adaptive = AdaptiveState()  # monotonic times
        self.override_rps: float | None = None
        self.override_burst: int | None = None

    def base(self) -> tuple[float, int]:
        """(rate, burst) before adaptation: the override where set, else the configuration."""
        rps = self.override_rps or self.rate.requests_per_second
        return rps, self.override_burst or self.rate.burst

    def effective_rps(self) -> float:
        return self.base()[0] * self.adaptive.effective(self.rate)

    def share(self) -> tuple[float, int]:
        """This replica's part of the effective rate and burst (the fallback's limit)."""
        burst = self.base()[1]
        return self.effective_rps() / self.replicas, max(1, burst // self.replicas)

    def remember(
        self,
        multiplier: float,
        blocked_us: float,
        override_rps: float | None,
        override_burst: float | None,
    ) -> None:
        """Take in a reply: multiplier, µs the provider still blocks us for, override."""
        now = time.monotonic()
        if multiplier < self.adaptive.multiplier and self.adaptive.throttled_at is None:
            self.adaptive.throttled_at = now  # cut by another replica: recover from here on
        self.adaptive.multiplier = multiplier
        if blocked_us > 0:
            self.adaptive.blocked_until = max(self.adaptive.blocked_until, now + blocked_us / US)
        self.override_rps = override_rps
        self.override_burst = None if override_burst is None else int(override_burst)

    def override(self) -> dict[str, Any] | None:
        if self.override_rps is None and self.override_burst is None:
            return None
        return {"requests_per_second": self.override_rps, "burst": self.override_burst}

    def local_times(self) -> tuple[float | None, float | None, float | None]:
        """(last throttle, last recovery, blocked until) of the local view, as epoch seconds."""
        mono, wall = time.monotonic(), time.time()

        def epoch(t: float | None) -> float | None:
            return None if t is None else wall + (t - mono)

        blocked = self.adaptive.blocked_until
        return (
            epoch(self.adaptive.throttled_at),
            epoch(self.adaptive.recovered_at),
            epoch(blocked) if blocked > mono else None,
        )

    def describe(
        self,
        *,
        tokens: float,
        throttled_at: float | None,
        recovered_at: float | None,
        blocked_until: float | None,
    ) -> dict[str, Any]:
        """The admin API's view. Times are epoch seconds, shown as ISO 8601 UTC."""
        rate = self.rate
        rps, burst = self.base()
        share_rps, share_burst = self.share()
        return {
            "configured": {"requests_per_second": rate.requests_per_second, "burst": rate.burst},
            "override": self.override(),
            "requests_per_second": rps,
            "effective_requests_per_second": self.effective_rps(),
            "burst": burst,
            "tokens_available": round(tokens, 3),
            "adaptive": {
                "enabled": rate.adaptive,
                "multiplier": self.adaptive.effective(rate),
                "last_throttled_at": iso(throttled_at),
                "last_recovered_at": iso(recovered_at),
                "blocked_until": iso(blocked_until),
            },
            "replicas": self.replicas,
            "fallback_share": {"requests_per_second": share_rps, "burst": share_burst},
        }
