"""API keys: stored only as a hash, found by a short public prefix."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db.columns import created_at_column, timestamp_column


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=128)
    prefix: str = Field(max_length=16, unique=True)
    key_hash: str = Field(max_length=128)
    role: str = Field(max_length=32)
    created_by: str | None = Field(default=None, max_length=256)
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    expires_at: datetime | None = Field(default=None, sa_column=timestamp_column("expires_at"))
    last_used_at: datetime | None = Field(default=None, sa_column=timestamp_column("last_used_at"))
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column("revoked_at"))
