"""Queries on `ingest_checkpoints` (writes happen in the ingest pipeline's transaction)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import IngestCheckpoint


async def for_provider(
    session: AsyncSession, *, tenant_id: str, provider: str
) -> list[IngestCheckpoint]:
    """Every checkpoint of a provider: its series' and the collector's own markers."""
    query = select(IngestCheckpoint).where(
        col(IngestCheckpoint.tenant_id) == tenant_id,
        col(IngestCheckpoint.provider) == provider,
    )
    return list((await session.execute(query)).scalars())
