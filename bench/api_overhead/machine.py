"""Is the machine quiet enough to measure? Other processes using CPU while a server is being
measured skew its figures (on two cores, one busy neighbour takes half of one side's core)."""

from __future__ import annotations

import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
# Share of all cores busy while nothing of ours is loaded, above which the run is flagged.
BUSY_WARNING = 0.15


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies since boot, from the first line of /proc/stat (Linux only)."""
    try:
        fields = PROC_STAT.read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(value) for value in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def busy_fraction(interval: float = 0.5) -> float | None:
    """Share of all cores in use over `interval` seconds, or None where it cannot be read."""
    before = _cpu_times()
    time.sleep(interval)
    after = _cpu_times()
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])
