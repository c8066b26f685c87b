"""An async engine on the suite's migrated PostgreSQL, and unique names per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.db.engine import async_url


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(async_url(database_url), pool_size=4)
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    await engine.dispose()


@dataclass(frozen=True)
class Names:
    provider: str
    topic: str
    dlq_topic: str


@pytest.fixture
def names() -> Names:
    # Providers are at most 32 characters; tests share one database.
    provider = f"t{uuid.uuid4().hex[:12]}"
    return Names(provider, f"aurum.ref.{provider}.series.v1", f"aurum.ref.{provider}.series.dlq.v1")
