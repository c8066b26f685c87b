"""The SLA view's reads, each bounded by the configured datasets and the window, never by the
history: the runs of the window with the configured datasets each left unfinished, the
configured datasets' checkpoint and catalog frequency, and the expected periods present,
counted from external_series_monthly_stats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class RunTimes:
    succeeded: bool
    created_at: datetime | None
    finished_at: datetime | None
    unfinished: tuple[str, ...]  # configured datasets this (successful) run did not finish


# A run finished before 0011 or written without runs.finish has no unfinished_datasets: its
# progress document says the same (the rule of runs.unfinished_datasets).
_UNFINISHED = """
    CASE WHEN status = 'succeeded' THEN ARRAY(
        SELECT d FROM unnest(coalesce(unfinished_datasets, ARRAY(
            SELECT p.key FROM jsonb_each(progress) AS p
            WHERE jsonb_typeof(p.value) = 'object'
              AND (p.value ->> 'status') IS DISTINCT FROM 'done'))) AS d
        WHERE d = ANY(CAST(:datasets AS text[])))
    ELSE ARRAY[]::text[] END"""
# The finished runs of the window plus the last success before it (the lag at the window's
# start depends on it), as health_reads.runs_since selects them, without the progress column.
_RUNS = text(
    f"""
    (SELECT status = 'succeeded', created_at, finished_at, {_UNFINISHED}
     FROM job_runs
     WHERE job_id = :job AND status = 'succeeded' AND finished_at < :since
     ORDER BY finished_at DESC LIMIT 1)
    UNION ALL
    (SELECT status = 'succeeded', created_at, finished_at, {_UNFINISHED}
     FROM job_runs
     WHERE job_id = :job AND status IN ('succeeded', 'failed') AND finished_at >= :since)
    """  # noqa: S608 - only the module's own SQL is interpolated
)


async def freshness_runs(
    session: AsyncSession, *, job_id: str, since: datetime, datasets: Sequence[str]
) -> list[RunTimes]:
    rows = await session.execute(_RUNS, {"job": job_id, "since": since, "datasets": list(datasets)})
    return [RunTimes(ok, created, finished, tuple(left)) for ok, created, finished, left in rows]


_STATE = text(
    """
    SELECT s.series_id, k.last_obs_date, d.frequency
    FROM unnest(CAST(:series AS text[])) AS s(series_id)
    LEFT JOIN ingest_checkpoints AS k
      ON k.tenant_id = :tenant AND k.provider = :provider AND k.series_id = s.series_id
    LEFT JOIN datasets AS d ON d.provider = :provider AND d.series_id = s.series_id
    """
)


async def dataset_state(
    session: AsyncSession, *, tenant_id: str, provider: str, series: Sequence[str]
) -> dict[str, tuple[date | None, str | None]]:
    """series → (checkpoint's last observation date, catalog frequency), for `series` only."""
    params = {"tenant": tenant_id, "provider": provider, "series": list(series)}
    rows = await session.execute(_STATE, params)
    return {series_id: (last, frequency) for series_id, last, frequency in rows}


# Each dataset's frequency picks the day masks of its expected periods, month by month; the
# bits both the mask and the month's stored days have are the expected periods present.
_PRESENT = text(
    """
    SELECT w.series_id, sum(bit_count(CAST(s.day_mask & e.mask AS bit(32))))::int
    FROM unnest(CAST(:series AS text[]), CAST(:frequencies AS text[])) AS w(series_id, freq)
    JOIN unnest(CAST(:mask_frequencies AS text[]), CAST(:months AS date[]),
                CAST(:masks AS int[])) AS e(freq, month, mask) ON e.freq = w.freq
    JOIN external_series_monthly_stats AS s
      ON s.tenant_id = :tenant AND s.provider = :provider AND s.series_id = w.series_id
     AND s.month = e.month
    GROUP BY w.series_id
    """
)


def day_masks(expected: dict[str, list[date]]) -> list[tuple[str, date, int]]:
    """(frequency, month, mask with bit d-1 for each expected day d of that month)."""
    masks: dict[tuple[str, date], int] = {}
    for frequency, days in expected.items():
        for day in days:
            key = (frequency, day.replace(day=1))
            masks[key] = masks.get(key, 0) | 1 << (day.day - 1)
    return [(frequency, month, mask) for (frequency, month), mask in masks.items()]


async def periods_present(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    frequencies: dict[str, str],
    expected: dict[str, list[date]],
) -> dict[str, int]:
    """series → how many of its frequency's `expected` period dates have an observation."""
    masks = day_masks(expected)
    if not frequencies or not masks:
        return {}
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "provider": provider,
        "series": list(frequencies),
        "frequencies": list(frequencies.values()),
        "mask_frequencies": [m[0] for m in masks],
        "months": [m[1] for m in masks],
        "masks": [m[2] for m in masks],
    }
    return {series_id: count for series_id, count in await session.execute(_PRESENT, params)}
