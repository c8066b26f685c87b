"""What a collector hands the pipeline after normalising, and what the row checks make of it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(slots=True)
class RawObservation:
    """One normalised observation; nothing about it is trusted until `check_rows` passes it.

    Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
    building one cost twice as much, and collectors build one per row of every page. Nothing
    changes a row once built; rows of one page may share their metadata dict.
    """

    series_id: str
    period_label: str
    obs_date: date | None
    value: float | None
    raw_value: str | None
    units: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_payload(self) -> dict[str, Any]:
        """JSON-safe form for dead letters (a non-finite value becomes its text, e.g. "nan")."""
        value: Any = self.value
        if isinstance(value, float) and not math.isfinite(value):
            value = repr(value)
        elif value is not None and not isinstance(value, int | float):
            value = str(value)
        return {
            "series_id": self.series_id,
            "period_label": self.period_label,
            "obs_date": self.obs_date.isoformat()
            if isinstance(self.obs_date, date)
            else (None if self.obs_date is None else str(self.obs_date)),
            "value": value,
            "raw_value": self.raw_value,
            "units": self.units,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class CheckpointUpdate:
    """Where the next incremental fetch of one series starts; written with the batch."""

    series_id: str
    last_obs_date: date | None
    provider_last_updated: datetime | None = None
    cursor: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ValidRow:
    """A row that passed every check; `metadata_json` is the metadata already serialised.
    (Not frozen, for the same reason as RawObservation.)"""

    series_id: str
    period_label: str
    obs_date: date
    value: float | None
    raw_value: str | None
    units: str | None
    metadata_json: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that failed a check, with the reason it is dead-lettered."""

    row: RawObservation
    reason: str


@dataclass(frozen=True)
class BatchResult:
    new: int
    changed: int
    unchanged: int
    rejected: int
