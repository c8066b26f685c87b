"""Freshness that knows the series frequency, and the periods a series should have.

Two measures per dataset:
- **ingestion lag**: time since the provider's last successful ingest run; the target is 24 h,
  or the ingest schedule's interval plus an hour when it runs less often (World Bank: weekly).
- **data age**: days from the latest observation to today, against an allowance per frequency
  (period length plus the usual publication delay): a monthly series whose last value is for
  last month is not stale; a daily one last updated ten days ago is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.jobs.triggers import parse_schedule

TARGET_SECONDS = 24 * 3600

# Days an observation may lag today before the series counts as stale: one period plus the
# provider's usual publication delay (FRED/EIA daily data land a business day late and skip
# weekends; GDP's advance estimate comes ~4 weeks after its quarter; World Bank annual data
# up to 2 years after the year). Observation dates are period starts, so each allowance is
# the period's length plus that delay.
ALLOWANCE_DAYS = {
    "daily": 5,
    "business_daily": 5,
    "weekly": 21,
    "monthly": 80,
    "quarterly": 215,
    "annual": 1100,
}
# Days between the end of a period and when its value is normally published; completeness
# only expects periods older than this.
PUBLICATION_DAYS = {
    "daily": 2,
    "business_daily": 2,
    "weekly": 10,
    "monthly": 45,
    "quarterly": 120,
    "annual": 540,
}

_ALIASES = {"yearly": "annual", "year": "annual", "a": "annual", "m": "monthly", "q": "quarterly",
            "w": "weekly", "d": "daily"}  # fmt: skip


def normalise(provider: str, series_id: str, frequency: str | None) -> str:
    """daily (calendar), business_daily, weekly, monthly, quarterly or annual."""
    word = (frequency or "").strip().lower().split(",")[0].split(" ")[0]
    word = _ALIASES.get(word, word)
    if not word:
        if provider == "eia" and series_id.count(":") >= 2:
            word = series_id.split(":")[1]
        elif provider == "worldbank":
            word = "annual"
        else:
            word = "daily"
    if word not in ALLOWANCE_DAYS:
        word = "daily"
    # FRED and EIA daily series are business-day series (markets, rates, spot prices); NOAA
    # weather is every calendar day.
    if word == "daily" and provider in {"fred", "eia"}:
        return "business_daily"
    return word


def configured_frequencies(
    provider: str, section: Any, catalog: dict[str, str | None]
) -> dict[str, str]:
    """Each configured dataset's frequency: the catalog's (from provider metadata), else the
    provider file's `frequency` key, else inferred (see normalise)."""
    out = {}
    for entry in section.datasets:
        series_id = str(entry.get("series_id") or entry.get("id"))
        raw = catalog.get(series_id) or entry.get("frequency")
        out[series_id] = normalise(provider, series_id, raw)
    return out


@functools.lru_cache(maxsize=64)
def ingest_target_seconds(schedule: str | None) -> float:
    """24 h, or the schedule's interval plus an hour when it fires less often than daily.
    Cached: parsing a crontab line costs more than the rest of a health request's Python."""
    if not schedule:
        return TARGET_SECONDS
    try:
        trigger = parse_schedule(schedule)
    except ValueError:
        return TARGET_SECONDS
    now = datetime.now(UTC)
    first = trigger.get_next_fire_time(None, now)
    second = first and trigger.get_next_fire_time(first, first + timedelta(microseconds=1))
    if first is None or second is None:
        return TARGET_SECONDS
    interval = (second - first).total_seconds()
    return TARGET_SECONDS if interval <= TARGET_SECONDS else interval + 3600


@dataclass(frozen=True)
class DataAge:
    frequency: str
    last_obs_date: date | None
    age_days: int | None
    allowance_days: int
    stale: bool | None  # None: nothing collected yet

    def as_dict(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "last_obs_date": self.last_obs_date.isoformat() if self.last_obs_date else None,
            "age_days": self.age_days,
            "allowance_days": self.allowance_days,
            "stale": self.stale,
        }


def data_age(frequency: str, last_obs_date: date | None, today: date | None = None) -> DataAge:
    today = today or datetime.now(UTC).date()
    allowance = ALLOWANCE_DAYS[frequency]
    if last_obs_date is None:
        return DataAge(frequency, None, None, allowance, None)
    age = (today - last_obs_date).days
    return DataAge(frequency, last_obs_date, age, allowance, age > allowance)


def expected_periods(frequency: str, start: date, end: date) -> list[date]:
    """Period start dates in [start, end] a series of this frequency should have, up to the
    last one normally published by `end`. Business days skip weekends only (no holiday
    calendar: a holiday counts as a missing period)."""
    end = end - timedelta(days=PUBLICATION_DAYS[frequency])
    if end < start:
        return []
    if frequency in {"daily", "business_daily"}:
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        if frequency == "business_daily":
            days = [d for d in days if d.weekday() < 5]
        return days
    if frequency == "weekly":
        # Weekly observations carry the week's date; expect one per 7 days.
        return [start + timedelta(days=7 * n) for n in range((end - start).days // 7 + 1)]
    step = {"monthly": 1, "quarterly": 3, "annual": 12}[frequency]
    out = []
    year, month = start.year, start.month
    while True:
        first = date(year, month, 1)
        if first > end:
            break
        if first >= start.replace(day=1) and (step == 1 or (month - 1) % step == 0):
            out.append(first)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return [d for d in out if d >= date(start.year, start.month, 1)]
