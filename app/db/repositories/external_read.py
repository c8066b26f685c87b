"""Queries of the read API for downstream apps: the series catalog and observation pages."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import Dataset, Observation


async def series_page(
    session: AsyncSession,
    *,
    provider: str | None,
    frequency: str | None,
    text: str | None,
    after_id: int | None,
    limit: int,
) -> list[Dataset]:
    """Catalog entries in id order, `limit` of them after `after_id`."""
    query = select(Dataset).order_by(col(Dataset.id)).limit(limit)
    if provider:
        query = query.where(col(Dataset.provider) == provider)
    if frequency:
        query = query.where(col(Dataset.frequency).ilike(frequency))
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(col(Dataset.title).ilike(pattern), col(Dataset.series_id).ilike(pattern))
        )
    if after_id is not None:
        query = query.where(col(Dataset.id) > after_id)
    return list((await session.execute(query)).scalars())


async def series_exists(session: AsyncSession, *, provider: str, series_id: str) -> bool:
    query = select(Dataset.id).where(
        col(Dataset.provider) == provider, col(Dataset.series_id) == series_id
    )
    return (await session.execute(query.limit(1))).first() is not None


async def observations_page(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    series_id: str,
    start: date | None,
    end: date | None,
    after: date | None,
    limit: int,
) -> list[tuple[Any, ...]]:
    """(obs_date, period_label, value, units) in date order, `limit` of them after `after`."""
    query = (
        select(
            col(Observation.obs_date),
            col(Observation.period_label),
            col(Observation.value),
            col(Observation.units),
        )
        .where(
            col(Observation.tenant_id) == tenant_id,
            col(Observation.provider) == provider,
            col(Observation.series_id) == series_id,
        )
        .order_by(col(Observation.obs_date))
        .limit(limit)
    )
    if start is not None:
        query = query.where(col(Observation.obs_date) >= start)
    if end is not None:
        query = query.where(col(Observation.obs_date) <= end)
    if after is not None:
        query = query.where(col(Observation.obs_date) > after)
    return [tuple(row) for row in (await session.execute(query)).all()]
