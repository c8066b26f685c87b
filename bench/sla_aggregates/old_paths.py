"""The health overview's database read as it was before it kept to the configured datasets:
every checkpoint of the tenant joined with the whole catalog, reshaped in Python the way
app/health/service.py reshapes it. The SLA's old computation is tests/health/sla_reference.py
(the one the tests compare the aggregates with)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_OLD_SERIES = text(
    """
    SELECT coalesce(json_agg(c), '[]') FROM (
        SELECT coalesce(k.provider, d.provider) AS provider,
               coalesce(k.series_id, d.series_id) AS series_id,
               k.last_obs_date, k.updated_at, d.frequency
        FROM (SELECT provider, series_id, last_obs_date, updated_at FROM ingest_checkpoints
              WHERE tenant_id = :tenant) k
        FULL OUTER JOIN datasets d
          ON d.provider = k.provider AND d.series_id = k.series_id) c
    """
)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def old_series_state(session: AsyncSession, tenant_id: str) -> dict[tuple[str, str], Any]:
    raw = (await session.execute(_OLD_SERIES, {"tenant": tenant_id})).scalar_one()
    series = {
        (row["provider"], row["series_id"]): [
            date.fromisoformat(row["last_obs_date"]) if row["last_obs_date"] else None,
            _parse(row["updated_at"]),
            row["frequency"],
        ]
        for row in raw
    }
    # provider_view then built each provider's catalog from every series.
    for name in {p for p, _ in series}:
        _ = {s: st[2] for (p, s), st in series.items() if p == name}
    return series
