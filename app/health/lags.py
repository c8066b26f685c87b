"""The ingestion lag sampled at every hour of a window, and its percentiles and deadline share
(the SLA's freshness objective, app/health/sla.py)."""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import datetime, timedelta
from typing import Any

DEADLINES_TARGET = 0.99


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[rank]


def lag_samples(
    success_times: list[datetime], first_seen: datetime | None, start: datetime, now: datetime
) -> list[float | None]:
    """The lag at every hour of the window; None where no success had happened yet (a missed
    deadline). Hours before the job's first known run are not sampled."""
    times = sorted(success_times)
    samples: list[float | None] = []
    hours = int((now - start).total_seconds() // 3600)
    for h in range(hours, -1, -1):
        at = now - timedelta(hours=h)
        if first_seen is None or at < first_seen:
            continue
        i = bisect_right(times, at)
        samples.append((at - times[i - 1]).total_seconds() if i else None)
    return samples


def freshness_measure(samples: list[float | None], target_s: float) -> dict[str, Any]:
    if not samples:
        return {"lag_p50_seconds": None, "lag_p95_seconds": None, "target_seconds": target_s,
                "deadlines_met_share": None, "met": None}  # fmt: skip
    known = [s for s in samples if s is not None]
    met_share = sum(1 for s in samples if s is not None and s <= target_s) / len(samples)
    # A sample with no success before it lags by at least the whole target.
    p50 = percentile([s if s is not None else math.inf for s in samples], 0.5)
    p95 = percentile([s if s is not None else math.inf for s in samples], 0.95)
    return {
        "lag_p50_seconds": None if p50 is None or math.isinf(p50) else round(p50, 1),
        "lag_p95_seconds": None if p95 is None or math.isinf(p95) else round(p95, 1),
        "target_seconds": target_s,
        "samples": len(samples),
        "samples_without_success": len(samples) - len(known),
        "deadlines_met_share": round(met_share, 4),
        "met": met_share >= DEADLINES_TARGET,
    }


def freshness_by_dataset(
    successes: list[tuple[datetime, tuple[str, ...]]],
    datasets: list[str],
    first_seen: datetime | None,
    start: datetime,
    now: datetime,
    target_s: float,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The provider's freshness over `successes` (finish time, datasets it left unfinished)
    and each dataset's, over the successes that finished it. Datasets left unfinished by the
    same runs have the same samples, so each such group is sampled once: usually one group,
    the provider's own, however many datasets are configured."""
    every = [at for at, _ in successes]
    provider = freshness_measure(lag_samples(every, first_seen, start, now), target_s)
    skipped: dict[str, list[int]] = {}
    for index, (_, unfinished) in enumerate(successes):
        for series_id in unfinished:
            skipped.setdefault(series_id, []).append(index)
    by_runs: dict[tuple[int, ...], dict[str, Any]] = {(): provider}
    out: dict[str, dict[str, Any]] = {}
    for series_id in datasets:
        runs = tuple(skipped.get(series_id, ()))
        if runs not in by_runs:
            left_out = set(runs)
            done = [at for index, at in enumerate(every) if index not in left_out]
            by_runs[runs] = freshness_measure(lag_samples(done, first_seen, start, now), target_s)
        out[series_id] = dict(by_runs[runs])
    return provider, out
