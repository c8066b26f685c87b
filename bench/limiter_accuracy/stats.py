"""Arithmetic over arrival timestamps and latency samples (pure functions)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def max_in_window(timestamps: Sequence[float], window: float = 1.0) -> int:
    """The most arrivals in any half-open window [t, t + window) of the given length. The
    maximum is reached by a window that starts at an arrival, so two pointers find it."""
    times = sorted(timestamps)
    best, end = 0, 0
    for start, t in enumerate(times):
        while end < len(times) and times[end] < t + window:
            end += 1
        best = max(best, end - start)
    return best


def per_second(timestamps: Sequence[float], start: float, end: float) -> list[int]:
    """Arrivals in each whole wall-clock second (int(epoch)) inside [start, end)."""
    counts = Counter(int(t) for t in timestamps)
    return [counts.get(second, 0) for second in range(math.ceil(start), math.floor(end))]


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; NaN without samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
