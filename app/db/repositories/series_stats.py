"""Keeping external_series_monthly_stats equal to a GROUP BY over the observations.

Every writer of observations calls `refresh` in its own transaction with the (series, month)
pairs it touched: each pair is recomputed from that month's observations (an index range scan
of at most 31 rows), upserted, or deleted when the month has none left. Recomputing instead of
adding deltas keeps the table right whatever the write was (insert, update, delete, retried
batch). Plain SQL against the table names only: the observations' storage (partitioning)
may change underneath.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# (tenant_id, provider, series_id, month): month is the first day of the month.
StatsKey = tuple[str, str, str, date]

_REFRESH = text(
    """
    WITH keys AS (
        SELECT DISTINCT k.tenant_id, k.provider, k.series_id, k.month
        FROM unnest(CAST(:tenants AS text[]), CAST(:providers AS text[]),
                    CAST(:series AS text[]), CAST(:months AS date[]))
             AS k(tenant_id, provider, series_id, month)
    ), agg AS (
        SELECT k.tenant_id, k.provider, k.series_id, k.month, count(o.obs_date) AS n,
               coalesce(bit_or(1 << (extract(day FROM o.obs_date)::int - 1)), 0) AS day_mask,
               min(o.obs_date) AS first_date, max(o.obs_date) AS last_date,
               max(coalesce(o.updated_at, o.ingested_at)) AS last_updated_at
        FROM keys AS k
        LEFT JOIN external_timeseries_obs AS o
          ON o.tenant_id = k.tenant_id AND o.provider = k.provider
         AND o.series_id = k.series_id
         AND o.obs_date >= k.month AND o.obs_date < (k.month + interval '1 month')::date
        GROUP BY k.tenant_id, k.provider, k.series_id, k.month
    ), gone AS (
        DELETE FROM external_series_monthly_stats AS m
        USING agg AS a
        WHERE a.n = 0 AND m.tenant_id = a.tenant_id AND m.provider = a.provider
          AND m.series_id = a.series_id AND m.month = a.month
    )
    INSERT INTO external_series_monthly_stats AS m (
        tenant_id, provider, series_id, month, observation_count, day_mask, first_date,
        last_date, last_updated_at)
    SELECT tenant_id, provider, series_id, month, n, day_mask, first_date, last_date,
           last_updated_at
    FROM agg WHERE n > 0
    ORDER BY tenant_id, provider, series_id, month
    ON CONFLICT (tenant_id, provider, series_id, month) DO UPDATE SET
        observation_count = EXCLUDED.observation_count,
        day_mask = EXCLUDED.day_mask,
        first_date = EXCLUDED.first_date,
        last_date = EXCLUDED.last_date,
        last_updated_at = EXCLUDED.last_updated_at
    """
)


def month_of(day: date) -> date:
    return day.replace(day=1)


async def refresh(session: AsyncSession, keys: Iterable[StatsKey]) -> int:
    """Recompute the stats of `keys` from the observations, in the session's transaction;
    the number of distinct keys given."""
    unique = sorted(set(keys))
    if not unique:
        return 0
    tenants, providers, series, months = (list(column) for column in zip(*unique, strict=True))
    await session.execute(
        _REFRESH, {"tenants": tenants, "providers": providers, "series": series, "months": months}
    )
    return len(unique)


_FORGET = text(
    "DELETE FROM external_series_monthly_stats "
    "WHERE month < :upper AND (CAST(:lower AS date) IS NULL OR month >= :lower)"
)


async def forget_range(session: AsyncSession, lower: date | None, upper: date) -> None:
    """Drop the stats of every month in [lower, upper): a dropped partition's whole range
    (partition bounds are whole months), whose rows left without a DELETE to count them."""
    await session.execute(_FORGET, {"lower": lower, "upper": upper})
