"""Ingest bookkeeping: per-series checkpoints and the dead-letter table for rejected rows."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlmodel import Field, SQLModel

from app.db.columns import bigint_identity_pk, created_at_column, jsonb_column, timestamp_column

# No dataset id starts with `_`: such keys are a collector's own state (the checkpoint row
# `__series_updates__` records when FRED's updates feed was last read) or a run's own progress
# entries (`_mode`, `_validation`). They are never stale and never a metric's `dataset`.
NOT_A_DATASET_PREFIX = "_"


def is_dataset(series_id: str) -> bool:
    return not series_id.startswith(NOT_A_DATASET_PREFIX)


class IngestCheckpoint(SQLModel, table=True):
    """Where the next incremental fetch of a series starts; advanced in the ingest transaction."""

    __tablename__ = "ingest_checkpoints"

    tenant_id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(primary_key=True, max_length=32)
    series_id: str = Field(primary_key=True, max_length=256)
    last_obs_date: date | None = None
    provider_last_updated: datetime | None = Field(
        default=None, sa_column=timestamp_column("provider_last_updated")
    )
    cursor: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb_column("cursor"))
    run_id: uuid.UUID | None = None
    updated_at: datetime | None = Field(default=None, sa_column=created_at_column("updated_at"))


class DeadLetter(SQLModel, table=True):
    """A row that failed its checks, kept with the reason instead of being dropped."""

    __tablename__ = "ingest_dead_letters"

    id: int | None = Field(default=None, sa_column=bigint_identity_pk())
    tenant_id: str = Field(max_length=64)
    provider: str = Field(max_length=32, index=True)
    series_id: str | None = Field(default=None, max_length=256)
    reason: str = Field(max_length=1024)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb_column("payload"))
    run_id: uuid.UUID | None = Field(default=None, index=True)
    batch_id: uuid.UUID | None = None
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
