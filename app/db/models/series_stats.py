"""Per series and month: what the SLA's completeness needs, kept by the ingest.

Reading every observation of a 30-day window into Python cost seconds at 20M rows; one row per
(series, month) answers the same question. `day_mask` has bit d-1 set when the month has an
observation dated day d, so any set of expected period dates (daily, business days, weekly
from an arbitrary start, first-of-month) is checked exactly, not estimated from a count.
The observations' key includes the date, so `observation_count` is also the count of
distinct dates. Written in the transaction that writes the observations
(app/db/repositories/series_stats.py).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class SeriesMonthlyStats(SQLModel, table=True):
    __tablename__ = "external_series_monthly_stats"

    tenant_id: str = Field(primary_key=True, max_length=64)
    provider: str = Field(primary_key=True, max_length=32)
    series_id: str = Field(primary_key=True, max_length=256)
    month: date = Field(primary_key=True)  # the first day of the month
    observation_count: int
    day_mask: int
    first_date: date
    last_date: date
    last_updated_at: datetime | None = Field(
        default=None, sa_column=Column("last_updated_at", DateTime(timezone=True), nullable=True)
    )
