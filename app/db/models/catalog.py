"""Provider and dataset catalog: what the collectors know about each series."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db.columns import created_at_column, jsonb_column, timestamp_column


class Provider(SQLModel, table=True):
    __tablename__ = "providers"

    name: str = Field(primary_key=True, max_length=32)
    display_name: str = Field(max_length=128)
    enabled: bool = Field(default=True)
    mode: str = Field(default="live", max_length=16)  # live | sandbox | mirror
    base_url: str = Field(default="", max_length=512)
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=timestamp_column("updated_at"))


class Dataset(SQLModel, table=True):
    """One series as the provider describes it (FRED series, EIA route+facets, ...)."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("provider", "series_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(foreign_key="providers.name", max_length=32, index=True)
    series_id: str = Field(max_length=256)
    title: str = Field(default="", max_length=1024)
    units: str | None = Field(default=None, max_length=256)
    frequency: str | None = Field(default=None, max_length=32)
    seasonal_adjustment: str | None = Field(default=None, max_length=128)
    observation_start: date | None = None
    observation_end: date | None = None
    provider_last_updated: datetime | None = Field(
        default=None, sa_column=timestamp_column("provider_last_updated")
    )
    enabled: bool = Field(default=True)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb_column("attributes"))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    updated_at: datetime | None = Field(default=None, sa_column=timestamp_column("updated_at"))
