"""The one small interface every collector implements, and what it is given.

A collector knows how to talk to its provider and nothing about PostgreSQL or Kafka: it reads
checkpoints it is handed, calls its API only through the guarded client, and yields batches of
normalised rows with the checkpoint updates that may move once those rows are stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from app.ingest.rows import CheckpointUpdate, RawObservation
from app.resilience.client import GuardedClient


@dataclass(frozen=True)
class SeriesState:
    """What the last successful run stored for one series."""

    series_id: str
    last_obs_date: date | None = None
    provider_last_updated: datetime | None = None
    cursor: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetInfo:
    """Catalog entry of one series, as the provider describes it."""

    series_id: str
    title: str
    units: str | None = None
    frequency: str | None = None
    seasonal_adjustment: str | None = None
    provider_last_updated: datetime | None = None
    observation_start: date | None = None
    observation_end: date | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """Rows to store in one transaction, and the checkpoints that move with them (only in the
    last batch of a series, so a crash mid-series re-fetches it and loses nothing)."""

    rows: list[RawObservation]
    checkpoints: list[CheckpointUpdate] = field(default_factory=list)
    # Catalog entries of series in this batch, from metadata the collection fetched anyway;
    # stored with the batch (app/jobs/catalog.py). Collectors attach them to a series' last
    # batch, beside its checkpoint.
    datasets: list[DatasetInfo] = field(default_factory=list)


@dataclass
class CollectStats:
    series_checked: int = 0
    skipped_unchanged: int = 0
    series_fetched: int = 0
    rows_parsed: int = 0


@dataclass
class CollectContext:
    client: GuardedClient
    base_url: str
    credential: str | None
    datasets: list[str]
    states: dict[str, SeriesState]
    now: datetime
    batch_size: int = 1000
    # A backfill window; without one, a run fetches what changed since the checkpoints.
    start: date | None = None
    end: date | None = None
    # A recovery is pending (app/resilience/recovery.py): every series re-reads its revision
    # window this run, changed or not, for the revisions published while it was unreachable.
    revisit: bool = False
    stats: CollectStats = field(default_factory=CollectStats)

    @property
    def backfill(self) -> bool:
        return self.start is not None or self.end is not None


class Collector(Protocol):
    provider: str

    async def catalog(self, ctx: CollectContext) -> list[DatasetInfo]: ...

    def collect(self, ctx: CollectContext) -> AsyncIterator[Batch]: ...

    async def probe(self, ctx: CollectContext) -> None:
        """The cheapest request that proves the API answers (breaker recovery, health)."""
        ...


def batched(rows: list[RawObservation], size: int) -> list[list[RawObservation]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]
