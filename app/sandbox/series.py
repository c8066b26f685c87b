"""Deterministic generated series: periods per frequency, a seeded walk, gaps and missing values.

Same provider and series id give the same numbers in every process (the seed is a CRC32 of
both), so two sandboxes agree and a test can compare what a collector stored with the truth.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"


@dataclass(frozen=True)
class Shape:
    """How the numbers move: an AR(1) walk around `level`, rounded to `decimals`."""

    level: float
    step: float
    decimals: int = 2
    phi: float = 0.98
    floor: float | None = None
    seasonal: float = 0.0  # amplitude of a yearly cycle (temperatures)


@dataclass(frozen=True)
class SeriesSpec:
    provider: str
    key: str
    frequency: Frequency
    start: date
    shape: Shape
    gap_share: float = 0.02  # periods absent altogether
    missing_share: float = 0.03  # periods present with the provider's missing marker
    holdback: int = 2  # newest periods unpublished at version 1; each advance publishes one
    updated_days_ago: float = 3.0  # last-updated age at start
    synthetic: bool = False  # left out of the default advance selection


@dataclass(frozen=True)
class Generated:
    """All rows up to today (gaps removed) and the number of unpublished periods at the end."""

    dates: list[date]
    values: list[float | None]
    period_count: int
    periods: list[date]


def seed_for(provider: str, key: str) -> int:
    return zlib.crc32(f"{provider}:{key}".encode())


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) fixed by its inputs, for choices that must not depend on run order."""
    return zlib.crc32(":".join(str(p) for p in parts).encode()) / 2**32


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + d.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def period_starts(frequency: Frequency, start: date, end: date) -> list[date]:
    """Period stamps from `start` to `end` inclusive: FRED style (first day; weeks end Friday)."""
    if frequency is Frequency.DAILY:
        return [date.fromordinal(o) for o in range(start.toordinal(), end.toordinal() + 1)]
    if frequency is Frequency.WEEKLY:
        first = start + timedelta(days=(4 - start.weekday()) % 7)
        return [date.fromordinal(o) for o in range(first.toordinal(), end.toordinal() + 1, 7)]
    step = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.ANNUAL: 12}[frequency]
    if frequency is Frequency.ANNUAL:
        current = date(start.year, 1, 1)
    else:
        current = date(start.year, start.month - (start.month - 1) % step, 1)
    out: list[date] = []
    while current <= end:
        out.append(current)
        current = _add_months(current, step)
    return out


def generate(spec: SeriesSpec, today: date) -> Generated:
    """Every period from the spec's start to `today`, minus gaps, with missing values as None."""
    periods = period_starts(spec.frequency, spec.start, today)
    rng = random.Random(seed_for(spec.provider, spec.key))  # noqa: S311 - test data, not crypto
    shape = spec.shape
    x = shape.level
    dates: list[date] = []
    values: list[float | None] = []
    holes = spec.gap_share > 0 or spec.missing_share > 0
    for d in periods:
        x = shape.level + shape.phi * (x - shape.level) + rng.gauss(0.0, shape.step)
        if holes:
            if rng.random() < spec.gap_share:
                continue
            if rng.random() < spec.missing_share:
                dates.append(d)
                values.append(None)
                continue
        v = x
        if shape.seasonal:
            v += shape.seasonal * -math.cos(2 * math.pi * (d.timetuple().tm_yday - 15) / 365.25)
        if shape.floor is not None:
            v = max(v, shape.floor)
        dates.append(d)
        values.append(round(v, shape.decimals))
    return Generated(dates=dates, values=values, period_count=len(periods), periods=periods)


def revised(value: float | None, times: int, shape: Shape) -> float | None:
    """A value after `times` in-place revisions: each moves it by half a step (at least 1 ulp)."""
    if value is None or times == 0:
        return value
    unit = 10.0**-shape.decimals
    delta = max(round(shape.step / 2, shape.decimals), unit) * times
    out = value + delta
    if shape.floor is not None:
        out = max(out, shape.floor)
    return round(out, shape.decimals)


def eia_period(frequency: Frequency, d: date) -> str:
    if frequency is Frequency.ANNUAL:
        return f"{d.year}"
    if frequency is Frequency.QUARTERLY:
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    if frequency is Frequency.MONTHLY:
        return f"{d.year}-{d.month:02d}"
    return d.isoformat()


def worldbank_period(frequency: Frequency, d: date) -> str:
    if frequency is Frequency.QUARTERLY:
        return f"{d.year}Q{(d.month - 1) // 3 + 1}"
    if frequency is Frequency.MONTHLY:
        return f"{d.year}M{d.month:02d}"
    return f"{d.year}"
