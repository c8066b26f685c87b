"""The audit log: one row per change, written in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.db.columns import bigint_identity_pk, created_at_column, jsonb_column


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "occurred_at"),
        Index(None, "principal", "occurred_at"),
        Index(None, "target", "occurred_at"),
    )

    id: int | None = Field(default=None, sa_column=bigint_identity_pk())
    occurred_at: datetime | None = Field(default=None, sa_column=created_at_column("occurred_at"))
    principal: str = Field(max_length=256)
    role: str = Field(max_length=32)
    action: str = Field(max_length=128)
    target: str = Field(max_length=512)
    before: dict[str, Any] | None = Field(
        default=None, sa_column=jsonb_column("before", default="", nullable=True)
    )
    after: dict[str, Any] | None = Field(
        default=None, sa_column=jsonb_column("after", default="", nullable=True)
    )
    reason: str | None = Field(default=None, max_length=1024)
    request_id: str | None = Field(default=None, max_length=64)
