"""Job run records: every scheduled, manual or backfill run of a job."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from app.db.columns import created_at_column, jsonb_column, timestamp_column


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    # Its replica died mid-run (a newer leader took the lock, or its heartbeat went silent);
    # the error summary says which, and a scheduled slot's re-run is queued once.
    ABANDONED = "abandoned"


# The rows that hold their schedule slot (the unique index's predicate).
SLOT_HELD = "slot IS NOT NULL AND status <> 'abandoned'"


class JobRun(SQLModel, table=True):
    __tablename__ = "job_runs"
    __table_args__ = (
        Index(None, "job_id", "created_at"),
        Index(None, "status", "created_at"),
        # One live scheduled run per job and schedule slot, whichever replica led at the time;
        # an abandoned run gives its slot up to its re-run.
        Index(
            "uq_job_runs_job_id_slot",
            "job_id",
            "slot",
            unique=True,
            postgresql_where=text(SLOT_HELD),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    job_id: str = Field(max_length=128)
    provider: str | None = Field(default=None, max_length=32, index=True)
    trigger: str = Field(max_length=16)  # scheduled | manual | backfill
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb_column("parameters"))
    status: str = Field(default=RunStatus.QUEUED, max_length=16)
    rows_new: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    rows_changed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    rows_rejected: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    requests_used: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    error_summary: str | None = Field(default=None, max_length=4096)
    replica_id: str | None = Field(default=None, max_length=128)
    # The scheduler leader's epoch when it started the run; None for runs of `app.runner`.
    leader_epoch: int | None = None
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    started_at: datetime | None = Field(default=None, sa_column=timestamp_column("started_at"))
    finished_at: datetime | None = Field(default=None, sa_column=timestamp_column("finished_at"))
    heartbeat_at: datetime | None = Field(default=None, sa_column=timestamp_column("heartbeat_at"))
    duration_ms: int | None = None
    # The schedule slot (fire time) a scheduled run serves; None for manual and backfill runs.
    slot: datetime | None = Field(default=None, sa_column=timestamp_column("slot"))
    cancel_requested: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    # Per-dataset progress of backfills and manual runs: {series_id: {"status", "rows"}}.
    progress: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb_column("progress"))
    # The datasets of `progress` not done when the run finished (written by runs.finish), so
    # per-dataset freshness reads a short list instead of every run's whole progress document.
    unfinished_datasets: list[str] | None = Field(
        default=None, sa_column=Column("unfinished_datasets", ARRAY(Text), nullable=True)
    )
