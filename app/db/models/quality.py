"""Stored results of expectation-suite validation runs.

At most one run per provider and scope is `running` at a time, across replicas: a partial
unique index on `(tenant_id, provider, scope) WHERE status = 'running'` makes a second claim
fail in the database. The scope is `run` (the rows one ingest run wrote) or `full` (the
provider's whole history): the two never wait for each other."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.db.columns import created_at_column, jsonb_column, timestamp_column


class ValidationResult(SQLModel, table=True):
    __tablename__ = "validation_results"
    __table_args__ = (
        Index(None, "provider", "started_at"),
        Index(
            "uq_validation_results_running",
            "tenant_id",
            "provider",
            "scope",
            unique=True,
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: str = Field(default="default", max_length=64)
    provider: str = Field(max_length=32)
    suite: str = Field(max_length=128)
    run_id: uuid.UUID | None = None
    scope: str = Field(default="full", max_length=16)  # run | full
    status: str = Field(default="running", max_length=16)  # running | completed | errored
    trigger: str | None = Field(default=None, max_length=16)  # manual | scheduled | ingest
    # Rows validated: the provider's at the start of a `full` run, the run's own for `run`.
    row_count: int | None = None
    error: str | None = Field(default=None, max_length=4096)  # why an errored run stopped
    success: bool | None = None
    evaluated: int = 0
    successful: int = 0
    unsuccessful: int = 0
    success_percent: float | None = None
    quality_score: float | None = None  # severity-weighted share of passed expectations, 0..1
    failed_expectations: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=jsonb_column("failed_expectations", default="'[]'::jsonb")
    )
    started_at: datetime | None = Field(default=None, sa_column=created_at_column("started_at"))
    finished_at: datetime | None = Field(default=None, sa_column=timestamp_column("finished_at"))
