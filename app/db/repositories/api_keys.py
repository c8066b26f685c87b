"""Queries on `api_keys`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import ApiKey


async def add(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def get(session: AsyncSession, key_id: uuid.UUID) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    result = await session.execute(select(ApiKey).where(col(ApiKey.prefix) == prefix))
    return result.scalar_one_or_none()


async def list_all(session: AsyncSession, *, include_revoked: bool) -> list[ApiKey]:
    query = select(ApiKey).order_by(col(ApiKey.created_at).desc())
    if not include_revoked:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    return list((await session.execute(query)).scalars())


async def count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(ApiKey))).scalar_one())


async def touch_last_used(session: AsyncSession, key_id: uuid.UUID, when: datetime) -> None:
    await session.execute(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=when))
