"""Building the read API's response bodies from PostgreSQL. Bodies are bytes, made once: the
cache stores exactly what was sent, and the ETag is the hash of those bytes."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.db.read_pool import RowSource
from app.db.repositories import external_read as repo
from app.errors import NotFound
from app.http.cursors import decode_cursor, encode_cursor, invalid_cursor
from app.read_api.encoding import dumps, observations_json

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_SERIES_FIELDS = repo.SERIES_COLUMNS[1:]


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
    rows: RowSource,
    *,
    provider: str | None,
    frequency: str | None,
    text: str | None,
    limit: int,
    cursor: str | None,
) -> bytes:
    after_id = _cursor_id(cursor)
    found = await repo.series_page(
        rows, provider=provider, frequency=frequency, text=text, after_id=after_id, limit=limit + 1
    )
    more = len(found) > limit
    found = found[:limit]
    # repo.SERIES_COLUMNS without the id, in the order the body has always listed them.
    items = [dict(zip(_SERIES_FIELDS, row[1:], strict=True)) for row in found]
    next_cursor = encode_cursor(found[-1][0]) if more and found else None
    return dumps({"series": items, "limit": limit, "next_cursor": next_cursor})


async def observations_body(
    rows_from: RowSource,
    query_args: dict[str, Any],
    *,
    limit: int,
    cursor: str | None,
) -> bytes:
    """`query_args`: tenant_id, provider, series_id, start, end."""
    after = _cursor_date(cursor)
    rows = await repo.observations_page(rows_from, **query_args, after=after, limit=limit + 1)
    if not rows and after is None:
        await _require_series(rows_from, query_args["provider"], query_args["series_id"])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1][0].isoformat()) if more else None
    return observations_json(
        query_args["provider"], query_args["series_id"], rows, limit, next_cursor
    )


async def _require_series(rows: RowSource, provider: str, series_id: str) -> None:
    if not await repo.series_exists(rows, provider=provider, series_id=series_id):
        raise NotFound(
            f"No series {series_id!r} of provider {provider!r}; list them with "
            f"GET /v1/external/series?provider={provider}"
        )
