"""Upserts into the provider and dataset catalog."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
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


# Entries of series a collection touched: what the collector knew (any field may be null),
# and the series' stored range with its latest units. The stored range wins over the
# provider's, so `observation_start`/`observation_end` say what the read API can serve; a
# null field keeps what the catalog had (a later run without metadata loses nothing).
# `only_missing`: series already in the catalog are skipped before their range is read.
_RECORD = text("""
INSERT INTO datasets AS d (
    provider, series_id, title, units, frequency, seasonal_adjustment, observation_start,
    observation_end, provider_last_updated, enabled, attributes, updated_at
)
SELECT CAST(:provider AS text), x.series_id, COALESCE(x.title, ''),
       COALESCE(x.units, hi.units), x.frequency, x.seasonal_adjustment,
       COALESCE(lo.obs_date, x.observation_start), COALESCE(hi.obs_date, x.observation_end),
       x.provider_last_updated, true, COALESCE(x.attributes, '{}'::jsonb), now()
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(
    series_id text, title text, units text, frequency text, seasonal_adjustment text,
    observation_start date, observation_end date, provider_last_updated timestamptz,
    attributes jsonb)
LEFT JOIN LATERAL (
    SELECT o.obs_date FROM external_timeseries_obs o
    WHERE o.tenant_id = :tenant_id AND o.provider = :provider AND o.series_id = x.series_id
    ORDER BY o.obs_date LIMIT 1
) AS lo ON true
LEFT JOIN LATERAL (
    SELECT o.obs_date, o.units FROM external_timeseries_obs o
    WHERE o.tenant_id = :tenant_id AND o.provider = :provider AND o.series_id = x.series_id
    ORDER BY o.obs_date DESC LIMIT 1
) AS hi ON true
WHERE NOT (CAST(:only_missing AS boolean) AND EXISTS (
    SELECT 1 FROM datasets e WHERE e.provider = :provider AND e.series_id = x.series_id
))
ON CONFLICT (provider, series_id) DO UPDATE SET
    title = COALESCE(NULLIF(EXCLUDED.title, ''), d.title),
    units = COALESCE(EXCLUDED.units, d.units),
    frequency = COALESCE(EXCLUDED.frequency, d.frequency),
    seasonal_adjustment = COALESCE(EXCLUDED.seasonal_adjustment, d.seasonal_adjustment),
    observation_start = COALESCE(EXCLUDED.observation_start, d.observation_start),
    observation_end = COALESCE(EXCLUDED.observation_end, d.observation_end),
    provider_last_updated = COALESCE(EXCLUDED.provider_last_updated, d.provider_last_updated),
    attributes = d.attributes || EXCLUDED.attributes,
    updated_at = now()
WHERE NOT CAST(:only_missing AS boolean)
""")


async def record_series(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    entries: list[dict[str, Any]],
    only_missing: bool = False,
) -> None:
    """Upsert the catalog entries of series a collection touched (one per series id; keys as
    `datasets`' columns, all but `series_id` optional), their observation range read from
    what `tenant_id` stored. `only_missing`: add entries the catalog lacks, change none."""
    if not entries:
        return
    params = {
        "tenant_id": tenant_id,
        "provider": provider,
        "rows": json.dumps(entries, default=str),
        "only_missing": only_missing,
    }
    await session.execute(_RECORD, params)
