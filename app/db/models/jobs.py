"""Scheduler state shared by every replica: job pauses and who leads."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db.columns import created_at_column, timestamp_column


class JobPause(SQLModel, table=True):
    """A paused job. Pauses live here, not in the leader's memory, so they survive restarts
    and leader changes; the leader applies this table to its scheduler every second."""

    __tablename__ = "job_pauses"

    job_id: str = Field(primary_key=True, max_length=128)
    paused_by: str = Field(max_length=256)
    reason: str | None = Field(default=None, max_length=1024)
    paused_at: datetime | None = Field(default=None, sa_column=created_at_column("paused_at"))
    until: datetime | None = Field(default=None, sa_column=timestamp_column("until"))
    automatic: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})


class SchedulerLeader(SQLModel, table=True):
    """Who holds the scheduler's advisory lock, for display (the lock itself decides)."""

    __tablename__ = "scheduler_leader"

    name: str = Field(primary_key=True, max_length=64)
    replica_id: str = Field(max_length=128)
    epoch: int = 0
    acquired_at: datetime | None = Field(default=None, sa_column=timestamp_column("acquired_at"))
    heartbeat_at: datetime | None = Field(default=None, sa_column=timestamp_column("heartbeat_at"))
