"""Operator changes to a provider's limits and budget, persisted so they survive restarts and
apply on every replica (the file holds the defaults)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db.columns import created_at_column, timestamp_column


class ProviderOverride(SQLModel, table=True):
    __tablename__ = "provider_overrides"

    provider: str = Field(primary_key=True, max_length=32)
    requests_per_second: float | None = None
    burst: int | None = None
    daily_quota: int | None = None
    hourly_quota: int | None = None
    monthly_budget_usd: float | None = None
    updated_by: str | None = Field(default=None, max_length=256)
    updated_at: datetime | None = Field(default=None, sa_column=created_at_column("updated_at"))


class ProviderRecovery(SQLModel, table=True):
    """A provider recovered (a paused ingest resumed, its breaker closed after being open, a
    reset) and no full collection has succeeded since: the next one re-reads every series'
    revision window, since revisions published during the outage were missed. Kept here, not
    in Redis, so a Redis loss or a leader change cannot drop it."""

    __tablename__ = "provider_recoveries"

    provider: str = Field(primary_key=True, max_length=32)
    # The first recovery not yet consumed, and the latest one: a run consumes the marker only
    # when it started after `marked_at`.
    pending_since: datetime = Field(sa_column=timestamp_column("pending_since", nullable=False))
    marked_at: datetime = Field(sa_column=timestamp_column("marked_at", nullable=False))
    reason: str | None = Field(default=None, max_length=1024)
