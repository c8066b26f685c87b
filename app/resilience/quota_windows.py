"""Quota windows (UTC day and hour, with the runbooks' Redis keys) and what the admin API
shows of their use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

DAILY_TTL_SECONDS = 2 * 86_400
# An hour's counter outlives its window by a day, so the day's use can be shown hour by hour.
HOURLY_TTL_SECONDS = 26 * 3_600
# Requests are spaced at this fraction of the rate once a window is critical.
CRITICAL_THROTTLE_FACTOR = 0.5


class QuotaLevel(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    EXHAUSTED = "exhausted"

    @property
    def severity(self) -> int:
        """0 ok, 1 warning, 2 critical, 3 exhausted (the level gauge)."""
        return list(QuotaLevel).index(self)


@dataclass(frozen=True, slots=True)
class Window:
    """One quota window of a provider at a given time."""

    name: str  # "daily" or "hourly"
    key: str
    start: datetime
    resets_at: datetime
    ttl_seconds: int


def windows(provider: str, now: datetime | None = None) -> tuple[Window, Window]:
    """(daily, hourly) windows containing `now` (default: the current time; naive = UTC)."""
    now = utc(now)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hour = now.replace(minute=0, second=0, microsecond=0)
    return (
        Window(
            "daily",
            f"{provider}:quota:daily:{day:%Y-%m-%d}",
            day,
            day + timedelta(days=1),
            DAILY_TTL_SECONDS,
        ),
        Window(
            "hourly",
            f"{provider}:quota:hourly:{hour:%Y-%m-%d-%H}",
            hour,
            hour + timedelta(hours=1),
            HOURLY_TTL_SECONDS,
        ),
    )


def hours_of_day(provider: str, now: datetime | None = None) -> list[tuple[datetime, str]]:
    """(hour start, hourly key) for each hour of `now`'s UTC day up to and including now's."""
    now = utc(now)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hours = [day + timedelta(hours=h) for h in range(now.hour + 1)]
    return [(hour, f"{provider}:quota:hourly:{hour:%Y-%m-%d-%H}") for hour in hours]


def utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class WindowUsage:
    window: str
    used: int
    limit: int | None
    resets_at: datetime
    level: QuotaLevel

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def percent(self) -> float | None:
        if self.limit is None:
            return None
        return 100.0 if self.limit == 0 else round(100.0 * self.used / self.limit, 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "used": self.used,
            "limit": self.limit,
            "remaining": self.remaining,
            "percent": self.percent,
            "level": self.level.value,
            "resets_at": self.resets_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    provider: str
    daily: WindowUsage
    hourly: WindowUsage
    # When the daily limit will be reached at today's average rate (used / seconds elapsed
    # since midnight UTC); None when unlimited, unused, or not before the window resets.
    projected_exhaustion: datetime | None
    degraded: bool

    @property
    def level(self) -> QuotaLevel:
        """The worse of the two windows."""
        return max(self.daily.level, self.hourly.level, key=lambda level: level.severity)

    @property
    def throttle_factor(self) -> float:
        critical = self.level in (QuotaLevel.CRITICAL, QuotaLevel.EXHAUSTED)
        return CRITICAL_THROTTLE_FACTOR if critical else 1.0

    def as_dict(self) -> dict[str, Any]:
        """The admin API's view."""
        projected = self.projected_exhaustion
        return {
            "provider": self.provider,
            "level": self.level.value,
            "throttle_factor": self.throttle_factor,
            "projected_exhaustion": projected.isoformat() if projected else None,
            "degraded": self.degraded,
            "windows": {"daily": self.daily.as_dict(), "hourly": self.hourly.as_dict()},
        }


def projection(now: datetime, daily: Window, used: int, limit: int | None) -> datetime | None:
    if limit is None or used <= 0:
        return None
    if used >= limit:
        return now
    elapsed = (now - daily.start).total_seconds()
    if elapsed <= 0:
        return None
    at = now + timedelta(seconds=(limit - used) * elapsed / used)
    return at if at < daily.resets_at else None
