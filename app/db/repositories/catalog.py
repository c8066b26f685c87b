"""Upserts into the provider and dataset catalog."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Dataset, Provider


async def upsert_provider(
    session: AsyncSession, *, name: str, display_name: str, enabled: bool, mode: str, base_url: str
) -> None:
    values = {
        "name": name,
        "display_name": display_name,
        "enabled": enabled,
        "mode": mode,
        "base_url": base_url,
        "updated_at": datetime.now(UTC),
    }
    statement = insert(Provider).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={k: v for k, v in values.items() if k != "name"}
        )
    )


async def upsert_datasets(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    statement = insert(Dataset).values(rows)
    updated = {
        column: statement.excluded[column]
        for column in rows[0]
        if column not in {"provider", "series_id"}
    }
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["provider", "series_id"],
            set_=updated | {"updated_at": datetime.now(UTC)},
        )
    )
    return len(rows)
