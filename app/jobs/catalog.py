"""Keeping the dataset catalog current from collections (`GET /v1/external/series`).

Every collection (scheduled, triggered, backfill, bulk, `python -m app.runner`) runs
app/jobs/collect.py, which calls this module:

- once per run, `start`: the provider's row (the catalog's parent), and an entry for every
  tracked series already stored but missing from the catalog (data stored before the catalog
  was kept, or by an older version): one statement, nothing fetched;
- in each batch's transaction, `record`: an entry for each series the batch finished (its
  checkpoint) or described (`Batch.datasets`, metadata the collector fetched anyway), with
  the stored observation range. No catalog crawl: a series the run skipped as unchanged
  keeps its entry as it was.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories import catalog as catalog_repo
from app.providers.base import Batch, DatasetInfo, SeriesState


async def start(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    display_name: str,
    mode: str,
    base_url: str,
    tracked: list[str],
    states: dict[str, SeriesState],
) -> None:
    await catalog_repo.upsert_provider(
        session,
        name=provider,
        display_name=display_name or provider,
        enabled=True,
        mode=mode,
        base_url=base_url,
    )
    stored = [
        {"series_id": s} for s in dict.fromkeys(tracked) if s in states and states[s].last_obs_date
    ]
    await catalog_repo.record_series(
        session, tenant_id=tenant_id, provider=provider, entries=stored, only_missing=True
    )


async def record(
    session: AsyncSession, *, tenant_id: str, provider: str, batch: Batch, tracked: set[str]
) -> None:
    """The entries of the series `batch` finished or described; `tracked`: the run's series
    (a checkpoint may also be a collector's own marker, not a series)."""
    entries: dict[str, dict[str, Any]] = {
        update.series_id: {"series_id": update.series_id}
        for update in batch.checkpoints
        if update.series_id in tracked
    }
    for info in batch.datasets:
        entries[info.series_id] = entry(info)
    await catalog_repo.record_series(
        session, tenant_id=tenant_id, provider=provider, entries=list(entries.values())
    )


def entry(info: DatasetInfo) -> dict[str, Any]:
    row = dataclasses.asdict(info)
    row["title"] = info.title[:1024]
    return row
