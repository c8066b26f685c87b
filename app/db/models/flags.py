"""Runtime feature flags (the truth) and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.db.columns import bigint_identity_pk, created_at_column, jsonb_column, timestamp_column


class RuntimeFlag(SQLModel, table=True):
    __tablename__ = "runtime_flags"

    name: str = Field(primary_key=True, max_length=128)
    enabled: bool = False
    configuration: dict[str, Any] = Field(
        default_factory=dict, sa_column=jsonb_column("configuration")
    )
    version: int = 1
    updated_by: str | None = Field(default=None, max_length=256)
    updated_at: datetime | None = Field(default=None, sa_column=created_at_column("updated_at"))
    expires_at: datetime | None = Field(
        default=None, sa_column=timestamp_column("expires_at", index=True)
    )
    # The value to restore when a change with a TTL expires.
    revert_to: dict[str, Any] | None = Field(
        default=None, sa_column=jsonb_column("revert_to", default="", nullable=True)
    )


class RuntimeFlagHistory(SQLModel, table=True):
    __tablename__ = "runtime_flag_history"
    __table_args__ = (Index(None, "name", "version"),)

    id: int | None = Field(default=None, sa_column=bigint_identity_pk())
    name: str = Field(max_length=128)
    version: int
    enabled: bool
    configuration: dict[str, Any] = Field(
        default_factory=dict, sa_column=jsonb_column("configuration")
    )
    changed_by: str | None = Field(default=None, max_length=256)
    reason: str | None = Field(default=None, max_length=1024)
    expires_at: datetime | None = Field(default=None, sa_column=timestamp_column("expires_at"))
    changed_at: datetime | None = Field(default=None, sa_column=created_at_column("changed_at"))
