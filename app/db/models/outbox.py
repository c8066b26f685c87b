"""The Kafka outbox: messages written in the data's transaction, published after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.db.columns import (
    bigint_identity_pk,
    created_at_column,
    json_column,
    jsonb_column,
    timestamp_column,
)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "kafka_outbox"
    __table_args__ = (
        # The relay only ever scans unsent rows in id order.
        Index("ix_kafka_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),
    )

    id: int | None = Field(default=None, sa_column=bigint_identity_pk())
    topic: str = Field(max_length=249)
    key: str | None = Field(default=None, max_length=512)
    # json, not jsonb: the message text as written and as published (migration 0007).
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=json_column("payload"))
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=jsonb_column("headers"))
    created_at: datetime | None = Field(default=None, sa_column=created_at_column())
    sent_at: datetime | None = Field(default=None, sa_column=timestamp_column("sent_at"))
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = Field(default=None, max_length=2048)
