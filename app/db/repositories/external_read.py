"""Queries of the read API for downstream apps: the series catalog and observation pages.

Plain SQL run through a RowSource (app/db/read_pool.py): rows come back as tuples in the
column order written here, and each distinct statement is prepared once per connection.
Only the WHERE clauses present vary, so a handful of statements covers every page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from app.db.read_pool import Row, RowSource

# The catalog's columns, in the order series_page returns them.
SERIES_COLUMNS = (
    "id",
    "provider",
    "series_id",
    "title",
    "units",
    "frequency",
    "seasonal_adjustment",
    "observation_start",
    "observation_end",
    "provider_last_updated",
)
_SERIES_SELECT = f"SELECT {', '.join(SERIES_COLUMNS)} FROM datasets"  # noqa: S608 - constants


def _like_pattern(text: str) -> str:
    """`text` anywhere, with LIKE's wildcards in it taken literally (backslash escapes)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def series_page(
    rows: RowSource,
    *,
    provider: str | None,
    frequency: str | None,
    text: str | None,
    after_id: int | None,
    limit: int,
) -> list[Row]:
    """Catalog entries (SERIES_COLUMNS) in id order, `limit` of them after `after_id`."""
    where: list[str] = []
    params: list[Any] = []
    if provider:
        where.append("provider = %s")
        params.append(provider)
    if frequency:
        where.append("frequency ILIKE %s")
        params.append(frequency)
    if text:
        where.append("(title ILIKE %s OR series_id ILIKE %s)")
        pattern = _like_pattern(text)
        params += [pattern, pattern]
    if after_id is not None:
        where.append("id > %s")
        params.append(after_id)
    sql = _SERIES_SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    params.append(limit)
    return await rows.fetch(sql + " ORDER BY id LIMIT %s", params)


async def series_exists(rows: RowSource, *, provider: str, series_id: str) -> bool:
    found = await rows.fetch(
        "SELECT 1 FROM datasets WHERE provider = %s AND series_id = %s LIMIT 1",
        (provider, series_id),
    )
    return bool(found)


async def observations_page(
    rows: RowSource,
    *,
    tenant_id: str,
    provider: str,
    series_id: str,
    start: date | None,
    end: date | None,
    after: date | None,
    limit: int,
) -> list[Row]:
    """(obs_date, period_label, value, units) in date order, `limit` of them after `after`."""
    sql = (
        "SELECT obs_date, period_label, value, units FROM external_timeseries_obs "
        "WHERE tenant_id = %s AND provider = %s AND series_id = %s"
    )
    params: list[Any] = [tenant_id, provider, series_id]
    for bound, clause in (
        (start, "obs_date >= %s"),
        (end, "obs_date <= %s"),
        (after, "obs_date > %s"),
    ):
        if bound is not None:
            sql += " AND " + clause
            params.append(bound)
    params.append(limit)
    return await rows.fetch(sql + " ORDER BY obs_date LIMIT %s", params)
