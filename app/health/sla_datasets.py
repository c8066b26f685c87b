"""One provider's SLA freshness and per-dataset figures (freshness, data age, completeness),
from reads bounded by its configured datasets and the window (app/db/repositories/sla_reads.py):
the aggregates the ingest keeps, never the window's observations. The figures are the same as
reading every observation and every run's progress would give (tests/health compare both).
The Python that remains (sampling the lag hour by hour) runs in a worker thread."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories import sla_reads
from app.health import freshness
from app.health.lags import freshness_by_dataset

COMPLETENESS_TARGET = 0.99


def measure(value: float | None, target: float, *, higher_is_better: bool = True) -> dict[str, Any]:
    if value is None:
        return {"value": None, "target": target, "met": None}
    met = value >= target if higher_is_better else value <= target
    return {"value": round(value, 4), "target": target, "met": met}


@dataclass(frozen=True)
class _Inputs:
    runs: list[sla_reads.RunTimes]
    frequencies: dict[str, str]
    state: dict[str, tuple[date | None, str | None]]
    expected: dict[str, list[date]]  # frequency → every expected period
    present: dict[str, int]


async def provider_figures(
    session: AsyncSession, *, tenant_id: str, name: str, section: Any, start: datetime,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """(the provider's freshness, {series_id: dataset figures}) over [start, now]."""
    configured = [str(entry.get("series_id") or entry.get("id")) for entry in section.datasets]
    state = await sla_reads.dataset_state(
        session, tenant_id=tenant_id, provider=name, series=configured
    )
    catalog = {series_id: frequency for series_id, (_, frequency) in state.items()}
    frequencies = freshness.configured_frequencies(name, section, catalog)
    runs = await sla_reads.freshness_runs(
        session, job_id=f"ingest.{name}", since=start, datasets=list(frequencies)
    )
    expected = {
        frequency: freshness.expected_periods(frequency, start.date(), now.date())
        for frequency in set(frequencies.values())
    }
    # Only dates the old read covered ([start - 1 day, today]) can count as present.
    lowest, highest = start.date() - timedelta(days=1), now.date()
    present = await sla_reads.periods_present(
        session, tenant_id=tenant_id, provider=name, frequencies=frequencies,
        expected={f: [d for d in days if lowest <= d <= highest] for f, days in expected.items()},
    )  # fmt: skip
    inputs = _Inputs(runs, frequencies, state, expected, present)
    target = freshness.ingest_target_seconds(section.schedule.get("ingest"))
    return await asyncio.to_thread(_figures, inputs, start, now, target)


def _figures(
    inputs: _Inputs, start: datetime, now: datetime, target: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    runs = inputs.runs
    first_seen = min((r.created_at or now for r in runs), default=None)
    successes = [(r.finished_at, r.unfinished) for r in runs if r.succeeded and r.finished_at]
    provider_fresh, fresh = freshness_by_dataset(
        successes, list(inputs.frequencies), first_seen, start, now, target
    )
    datasets: dict[str, Any] = {}
    for series_id, frequency in inputs.frequencies.items():
        expected = len(inputs.expected[frequency])
        have = inputs.present.get(series_id, 0)
        completeness = have / expected if expected else None
        age = freshness.data_age(frequency, inputs.state.get(series_id, (None, None))[0])
        datasets[series_id] = {
            "frequency": frequency,
            "freshness": fresh[series_id],
            "data_age": age.as_dict(),
            "completeness": measure(completeness, COMPLETENESS_TARGET)
            | {"expected_periods": expected},
        }
    return provider_fresh, datasets
