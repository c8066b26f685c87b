"""Operator changes to a provider's limits and budget, persisted so they survive restarts and
apply on every replica (the file holds the defaults)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db.columns import created_at_column


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
