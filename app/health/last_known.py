"""The Redis side of the health view as last read, per provider, for when Redis does not
answer within its deadline (stopped, overloaded, partitioned): the view then shows this state
marked `stale`, with `as_of` and `age_seconds`, instead of waiting for Redis or failing.

Per replica and in memory: a replica that has never read a provider's state answers from the
guards' own per-replica fallbacks (also marked stale, `as_of` null)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Reading:
    calls: dict[str, str] | None  # the provider's call log hash
    guard: dict[str, Any]  # {breaker, quota, limiter}
    as_of: datetime
    read_at: float  # time.monotonic()


class LastKnown:
    def __init__(self) -> None:
        self._readings: dict[str, Reading] = {}

    def remember(self, provider: str, calls: dict[str, str] | None, guard: dict[str, Any]) -> None:
        self._readings[provider] = Reading(calls, guard, datetime.now(UTC), time.monotonic())

    def get(self, provider: str) -> Reading | None:
        return self._readings.get(provider)


def age_fields(reading: Reading | None, *, stale: bool) -> dict[str, Any]:
    """The `stale`, `as_of` and `age_seconds` a provider's view carries."""
    if not stale:
        now = datetime.now(UTC)
        return {"stale": False, "as_of": _iso(now), "age_seconds": 0.0}
    if reading is None:
        return {"stale": True, "as_of": None, "age_seconds": None}
    age = round(time.monotonic() - reading.read_at, 3)
    return {"stale": True, "as_of": _iso(reading.as_of), "age_seconds": age}


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
