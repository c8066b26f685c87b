"""The observations table (the runbooks' `*_series_timeseries` shape).

No foreign keys on purpose: it is the hot table the ingest pipeline COPYs and upserts into,
and a hypertable when TimescaleDB is present (its primary key includes the time column).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Double
from sqlmodel import Field, SQLModel

from app.db.columns import created_at_column, jsonb_column, timestamp_column

OBSERVATIONS_TABLE = "external_timeseries_obs"


class Observation(SQLModel, table=True):
    __tablename__ = OBSERVATIONS_TABLE

    tenant_id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(primary_key=True, max_length=32)
    series_id: str = Field(primary_key=True, max_length=256)
    obs_date: date = Field(primary_key=True)
    period_label: str = Field(max_length=32)
    value: float | None = Field(default=None, sa_column=Column("value", Double, nullable=True))
    raw_value: str | None = Field(default=None, max_length=64)
    units: str | None = Field(default=None, max_length=256)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb_column("metadata"))
    ingested_at: datetime | None = Field(default=None, sa_column=created_at_column("ingested_at"))
    updated_at: datetime | None = Field(default=None, sa_column=timestamp_column("updated_at"))
    run_id: uuid.UUID | None = Field(default=None, index=True)
    batch_id: uuid.UUID | None = None
