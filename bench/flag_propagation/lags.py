"""From the replicas' applied logs (Redis lists the service keeps per replica) to the time from
each version's commit to the last replica applying it."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Applied:
    version: int
    applied_at: float
    committed_at: float | None
    source: str  # local | pubsub | reconcile | start


def parse_log(entries: list[str], flag: str) -> list[Applied]:
    applied = []
    for raw in entries:
        data = json.loads(raw)
        if data["name"] == flag:
            applied.append(
                Applied(
                    int(data["version"]),
                    float(data["applied_at"]),
                    data.get("committed_at"),
                    str(data["source"]),
                )
            )
    return applied


def first_at_or_after(applied: list[Applied], version: int) -> Applied | None:
    """A replica that skipped a version (reconcile jumped past it) had it once it applied a
    later one: the first apply of that version or any later one."""
    later = [a for a in applied if a.version >= version]
    return min(later, key=lambda a: a.applied_at) if later else None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


@dataclass(frozen=True)
class Lags:
    versions: int
    lags_ms: list[float]  # commit → last replica applied, per version
    sources: list[str]  # how the last replica learnt of each of those versions
    missing: list[int]  # versions some replica never reached

    @property
    def by_source(self) -> dict[str, int]:
        return dict(Counter(self.sources))

    def where(self, delivered_by: set[str]) -> list[float]:
        return [
            lag for lag, src in zip(self.lags_ms, self.sources, strict=True) if src in delivered_by
        ]

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.lags_ms) if self.lags_ms else float("nan")


def lags(commits: dict[int, float], logs: dict[str, list[Applied]]) -> Lags:
    """`commits`: version → commit time (the writer's). `logs`: replica → its applies."""
    values, sources, missing = [], [], []
    for version, committed in sorted(commits.items()):
        lasts = [first_at_or_after(applied, version) for applied in logs.values()]
        if any(a is None for a in lasts):
            missing.append(version)
            continue
        last = max((a for a in lasts if a is not None), key=lambda a: a.applied_at)
        values.append(max(0.0, last.applied_at - committed) * 1000)
        sources.append(last.source)
    return Lags(len(commits), values, sources, missing)
