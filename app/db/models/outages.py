"""Declared provider outages and the events recorded while one is open.

A declaration applies the runbook's mitigation as one change and keeps, per action, the value
before and after, so that the resolve can undo exactly what it applied. The events (breaker and
health transitions, refused runs, the backfill and its completeness check) are what the
timeline and the post-incident report are built from.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, text
from sqlmodel import Field, SQLModel

from app.db.columns import bigint_identity_pk, created_at_column, jsonb_column, timestamp_column


class OutageStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ProviderOutage(SQLModel, table=True):
    __tablename__ = "provider_outages"
    __table_args__ = (
        # One open outage per provider, whichever replica takes the declaration.
        Index(
            "uq_provider_outages_open_provider",
            "provider",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
        Index(None, "declared_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    provider: str = Field(max_length=32)
    status: str = Field(default=OutageStatus.OPEN, max_length=16)
    reason: str = Field(max_length=1024)
    declared_by: str = Field(max_length=256)
    declared_at: datetime | None = Field(default=None, sa_column=created_at_column("declared_at"))
    # A forgotten outage resolves itself here (audited as `system`); None: no expiry.
    expires_at: datetime | None = Field(default=None, sa_column=timestamp_column("expires_at"))
    # What the declaration asked for and what it applied, each with before and after.
    requested_actions: dict[str, Any] = Field(
        default_factory=dict, sa_column=jsonb_column("requested_actions")
    )
    applied_actions: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=jsonb_column("applied_actions", default="'[]'::jsonb")
    )
    resolved_at: datetime | None = Field(default=None, sa_column=timestamp_column("resolved_at"))
    resolved_by: str | None = Field(default=None, max_length=256)
    resolve_reason: str | None = Field(default=None, max_length=1024)
    # The resolve's outcome: the probe, what was undone, what was left alone and why.
    resolution: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb_column("resolution"))
    backfill_run_id: uuid.UUID | None = Field(default=None)
    # The data window the backfill covers (the outage plus the revision windows).
    window_start: datetime | None = Field(default=None, sa_column=timestamp_column("window_start"))
    window_end: datetime | None = Field(default=None, sa_column=timestamp_column("window_end"))
    # Stored data against what the provider serves for the window, once the backfill is done.
    completeness: dict[str, Any] | None = Field(
        default=None, sa_column=jsonb_column("completeness", default="", nullable=True)
    )


class OutageEvent(SQLModel, table=True):
    """One line of an outage's timeline that the outage row itself does not hold."""

    __tablename__ = "outage_events"
    __table_args__ = (Index(None, "outage_id", "at"),)

    id: int | None = Field(default=None, sa_column=bigint_identity_pk())
    outage_id: uuid.UUID = Field(
        sa_column=Column(
            "outage_id",
            ForeignKey("provider_outages.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    at: datetime | None = Field(default=None, sa_column=created_at_column("at"))
    # declared | action | breaker | health | run | resolved | undo | backfill | completeness
    kind: str = Field(max_length=32)
    actor: str | None = Field(default=None, max_length=256)
    summary: str = Field(max_length=1024)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb_column("detail"))


__all__ = ["OutageEvent", "OutageStatus", "ProviderOutage"]
