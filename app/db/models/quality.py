"""Stored results of expectation-suite validation runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.db.columns import created_at_column, jsonb_column, timestamp_column


class ValidationResult(SQLModel, table=True):
    __tablename__ = "validation_results"
    __table_args__ = (Index(None, "provider", "started_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    provider: str = Field(max_length=32)
    suite: str = Field(max_length=128)
    run_id: uuid.UUID | None = None
    status: str = Field(default="running", max_length=16)  # running | completed | errored
    success: bool | None = None
    evaluated: int = 0
    successful: int = 0
    unsuccessful: int = 0
    success_percent: float | None = None
    failed_expectations: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=jsonb_column("failed_expectations", default="'[]'::jsonb")
    )
    started_at: datetime | None = Field(default=None, sa_column=created_at_column("started_at"))
    finished_at: datetime | None = Field(default=None, sa_column=timestamp_column("finished_at"))
