"""The sandbox's data and its version: what each series shows now, and `advance()`, which
publishes new periods, revises recent values in place and moves last-updated times."""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from app.sandbox.catalog import SandboxCatalog
from app.sandbox.series import (
    Frequency,
    Generated,
    SeriesSpec,
    Shape,
    generate,
    revised,
    stable_fraction,
)

BULK_ID = re.compile(r"^BULK([1-9][0-9]{0,6})$")
BULK_MAX = 5_000_000
FRED_EPOCH = date(1776, 7, 4)
REVISED_PERIODS = 3  # how many of the newest published values each advance revises


class UnknownSeries(KeyError):
    pass


@dataclass(frozen=True)
class View:
    """A series as published now: dates ascending and values (None = provider's missing)."""

    spec: SeriesSpec
    dates: list[date]
    values: list[float | None]
    last_updated: datetime


@dataclass
class _State:
    spec: SeriesSpec
    last_updated: datetime
    published_extra: int = 0
    revisions: dict[int, int] = field(default_factory=dict)  # row index -> times revised
    generated: Generated | None = None
    view: View | None = None


class SandboxData:
    def __init__(self, catalog: SandboxCatalog, *, today: date | None = None) -> None:
        self.catalog = catalog
        self.started = datetime.now(UTC).replace(microsecond=0)
        self.today = today or self.started.date()
        self.version = 1
        self._lock = threading.RLock()
        self._states: dict[tuple[str, str], _State] = {}
        # Version 1's timestamps hang off the day, not the start time, so two sandboxes started
        # the same day (two runner processes) agree and an unchanged series stays unchanged.
        day_start = datetime.combine(self.today, time(), UTC)
        for spec in catalog.specs():
            age = timedelta(days=spec.updated_days_ago)
            self._states[(spec.provider, spec.key)] = _State(spec, day_start - age)

    def keys(self, provider: str) -> list[str]:
        return [k for (p, k) in self._states if p == provider]

    def has(self, provider: str, key: str) -> bool:
        return (provider, key) in self._states or (provider == "fred" and _bulk_n(key) > 0)

    def last_updated(self, provider: str, key: str) -> datetime:
        return self._state(provider, key).last_updated

    def spec(self, provider: str, key: str) -> SeriesSpec:
        return self._state(provider, key).spec

    def view(self, provider: str, key: str) -> View:
        with self._lock:
            st = self._state(provider, key)
            if st.view is None:
                st.view = self._build_view(st)
            return st.view

    def _state(self, provider: str, key: str) -> _State:
        st = self._states.get((provider, key))
        if st is not None:
            return st
        n = _bulk_n(key) if provider == "fred" else 0
        if not n:
            raise UnknownSeries(f"{provider}:{key}")
        with self._lock:
            st = self._states.get((provider, key))
            if st is None:
                st = _State(_bulk_spec(key, n, self.today), self.started - timedelta(days=400))
                self._states[(provider, key)] = st
            return st

    def _build_view(self, st: _State) -> View:
        if st.generated is None:
            st.generated = generate(st.spec, self._end_for(st.spec))
        gen = st.generated
        hidden = max(st.spec.holdback - st.published_extra, 0)
        if hidden and gen.period_count > hidden:
            cutoff = gen.periods[gen.period_count - hidden - 1]
            n = bisect_right(gen.dates, cutoff)
        elif hidden:
            n = 0
        else:
            n = len(gen.dates)
        values = gen.values[:n]
        if st.revisions:
            values = list(values)
            for i, times in st.revisions.items():
                if i < n:
                    values[i] = revised(values[i], times, st.spec.shape)
        return View(st.spec, gen.dates[:n], values, st.last_updated)

    def _end_for(self, spec: SeriesSpec) -> date:
        if spec.key.startswith("BULK") and spec.holdback == 0 and spec.gap_share == 0:
            return spec.start + timedelta(days=_bulk_n(spec.key) - 1)
        return self.today

    def advance(self, selection: dict[str, list[str]] | None = None) -> dict[str, object]:
        """Bump the data version; the chosen series (default: about a third of the named ones,
        at least one per provider) publish one more period and revise recent values."""
        with self._lock:
            if selection is not None:
                for provider, keys in selection.items():
                    for key in keys:
                        if not self.has(provider, key):
                            raise UnknownSeries(f"{provider}:{key}")
            self.version += 1
            now = max(datetime.now(UTC), self._latest_update() + timedelta(seconds=1))
            now = now.replace(microsecond=0)
            chosen = selection if selection is not None else self._default_selection()
            changed: dict[str, list[dict[str, object]]] = {}
            for provider, keys in chosen.items():
                for key in keys:
                    changed.setdefault(provider, []).append(self._touch(provider, key, now))
            return {"version": self.version, "updated_at": now.isoformat(), "changed": changed}

    def _latest_update(self) -> datetime:
        return max(st.last_updated for st in self._states.values())

    def _default_selection(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for (provider, key), st in self._states.items():
            if st.spec.synthetic or st.spec.key.startswith("BULK"):
                continue
            if stable_fraction(provider, key, self.version) < 1 / 3:
                out.setdefault(provider, []).append(key)
        for provider in ("fred", "eia", "noaa", "worldbank"):
            if provider not in out:
                named = [
                    k
                    for (p, k), s in self._states.items()
                    if p == provider and not s.spec.synthetic
                ]
                if named:
                    out[provider] = [named[self.version % len(named)]]
        return out

    def _touch(self, provider: str, key: str, now: datetime) -> dict[str, object]:
        st = self._state(provider, key)
        before = self._build_view(st)
        if st.published_extra < st.spec.holdback:
            st.published_extra += 1
        st.view = None
        after_n = len(self._build_view(st).dates)
        first = max(after_n - REVISED_PERIODS, 0)
        for i in range(first, min(after_n, len(before.dates))):
            st.revisions[i] = st.revisions.get(i, 0) + 1
        st.last_updated = now
        st.view = None
        view = self.view(provider, key)
        return {
            "series": key,
            "appended": [d.isoformat() for d in view.dates[len(before.dates) :]],
            "revised": [view.dates[i].isoformat() for i in range(first, len(before.dates))],
        }

    def truth(self, provider: str, key: str) -> dict[str, object]:
        view = self.view(provider, key)
        return {
            "provider": provider,
            "series": key,
            "frequency": view.spec.frequency.value,
            "version": self.version,
            "last_updated": view.last_updated.isoformat(),
            "count": len(view.dates),
            "observations": [
                {"date": d.isoformat(), "value": v}
                for d, v in zip(view.dates, view.values, strict=True)
            ],
        }


def _bulk_n(key: str) -> int:
    m = BULK_ID.match(key)
    return int(m.group(1)) if m and int(m.group(1)) <= BULK_MAX else 0


def _bulk_spec(key: str, n: int, today: date) -> SeriesSpec:
    """n consecutive days ending today; when that would start before FRED's earliest date
    (1776-07-04, the default observation_start), from 1776-07-04 on into the future."""
    first = max(today.toordinal() - n + 1, FRED_EPOCH.toordinal())
    return SeriesSpec(
        "fred",
        key,
        Frequency.DAILY,
        date.fromordinal(first),
        Shape(level=100.0, step=0.5, decimals=2, phi=0.999),
        gap_share=0.0,
        missing_share=0.0,
        holdback=0,
        updated_days_ago=400,
        synthetic=True,
    )
