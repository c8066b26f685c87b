"""Building the read API's response bodies from PostgreSQL. Bodies are bytes, made once: the
cache stores exactly what was sent, and the ETag is the hash of those bytes."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import external_read as repo
from app.errors import NotFound
from app.http.cursors import decode_cursor, encode_cursor, invalid_cursor

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), default=str).encode()


def _cursor_date(cursor: str | None) -> date | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise invalid_cursor() from None


def _cursor_id(cursor: str | None) -> int | None:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if not isinstance(value, int):
        raise invalid_cursor()
    return value


async def series_body(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    provider: str | None,
    frequency: str | None,
    text: str | None,
    limit: int,
    cursor: str | None,
) -> bytes:
    after_id = _cursor_id(cursor)
    async with sessionmaker() as session:
        rows = await repo.series_page(
            session,
            provider=provider,
            frequency=frequency,
            text=text,
            after_id=after_id,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "provider": d.provider,
            "series_id": d.series_id,
            "title": d.title,
            "units": d.units,
            "frequency": d.frequency,
            "seasonal_adjustment": d.seasonal_adjustment,
            "observation_start": d.observation_start,
            "observation_end": d.observation_end,
            "provider_last_updated": d.provider_last_updated,
        }
        for d in rows
    ]
    next_cursor = encode_cursor(rows[-1].id) if more and rows else None
    return _dumps({"series": items, "limit": limit, "next_cursor": next_cursor})


async def observations_body(
    sessionmaker: async_sessionmaker[AsyncSession],
    session_args: dict[str, Any],
    *,
    limit: int,
    cursor: str | None,
) -> bytes:
    """`session_args`: tenant_id, provider, series_id, start, end."""
    after = _cursor_date(cursor)
    async with sessionmaker() as session:
        rows = await repo.observations_page(session, **session_args, after=after, limit=limit + 1)
        if not rows and after is None:
            await _require_series(session, session_args["provider"], session_args["series_id"])
    more = len(rows) > limit
    rows = rows[:limit]
    observations = [
        {"date": obs_date.isoformat(), "period": period, "value": value, "units": units}
        for obs_date, period, value, units in rows
    ]
    next_cursor = encode_cursor(rows[-1][0].isoformat()) if more else None
    return _dumps(
        {
            "provider": session_args["provider"],
            "series_id": session_args["series_id"],
            "observations": observations,
            "limit": limit,
            "next_cursor": next_cursor,
        }
    )


async def _require_series(session: AsyncSession, provider: str, series_id: str) -> None:
    if not await repo.series_exists(session, provider=provider, series_id=series_id):
        raise NotFound(
            f"No series {series_id!r} of provider {provider!r}; list them with "
            f"GET /v1/external/series?provider={provider}"
        )
