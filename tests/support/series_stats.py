"""The monthly series stats (app/db/repositories/series_stats.py) checked against the same
aggregate computed from scratch over the observations, for tests that delete rows."""

from __future__ import annotations

from typing import Any

from tests.support.scheduling import sql

# The aggregate every writer keeps, from scratch.
GROUPED = (
    "SELECT series_id, date_trunc('month', obs_date)::date, count(*),"
    " bit_or(1 << (extract(day FROM obs_date)::int - 1)), min(obs_date), max(obs_date)"
    " FROM external_timeseries_obs WHERE tenant_id = %s GROUP BY 1, 2 ORDER BY 1, 2"
)
STATS = (
    "SELECT series_id, month, observation_count, day_mask, first_date, last_date"
    " FROM external_series_monthly_stats WHERE tenant_id = %s ORDER BY 1, 2"
)


def seed_stats(database_url: str, tenant: str) -> None:
    """The stats of `tenant`'s rows as the ingest would have left them (for rows a test
    inserted with plain SQL)."""
    sql(
        database_url,
        "INSERT INTO external_series_monthly_stats (tenant_id, provider, series_id, month,"
        " observation_count, day_mask, first_date, last_date) SELECT %s, 'fred', g.* FROM ("
        + GROUPED
        + ") g",
        tenant,
        tenant,
    )


def stats_and_grouped(database_url: str, tenant: str) -> tuple[list[Any], list[Any]]:
    return sql(database_url, STATS, tenant), sql(database_url, GROUPED, tenant)


def forget_stats(database_url: str, *tenants: str) -> None:
    for tenant in tenants:
        sql(database_url, "DELETE FROM external_series_monthly_stats WHERE tenant_id = %s", tenant)
