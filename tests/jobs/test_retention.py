"""maintenance.retention, triggered through the API: old observations and outbox rows sent
long ago are deleted; newer ones and unsent ones, however old, stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.auth.principal import Role
from app.main import create_app
from app.settings import Settings
from tests.support.apps import running_app
from tests.support.auth import bearer
from tests.support.scheduling import finished_run, provider_file, sql, wait_for
from tests.support.series_stats import forget_stats, seed_stats, stats_and_grouped

JOBS = "/v1/admin/external/jobs"


def _keep_centuries(data: dict[str, Any]) -> None:
    # Observations before 1752 only (other tests' data is newer), outbox rows sent > 7 days ago.
    data["jobs"] = {**data["jobs"], "retention_days": 100_000, "outbox_retention_days": 7}


async def _retention_run(settings: Settings, tmp_path: Path) -> dict[str, Any]:
    """maintenance.retention triggered over the API on a leader app; its finished run."""
    app = create_app(
        settings.model_copy(
            update={
                "scheduler_enabled": True,
                "leader_poll_seconds": 0.2,
                "scheduler_sync_seconds": 0.2,
                "provider_config_path": provider_file(tmp_path, _keep_centuries),
            }
        )
    )
    operator = bearer(settings, Role.OPERATOR)
    async with running_app(app) as client:
        scheduler = app.state.resources.scheduler
        await wait_for(lambda: scheduler.is_leader, timeout=10, what="leadership")
        response = await client.post(f"{JOBS}/maintenance.retention/trigger", headers=operator)
        assert response.status_code == 202, response.text
        return await finished_run(client, response.json()["run"]["id"], operator)


async def test_retention_deletes_old_observations_and_long_sent_outbox_rows(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    tenant = f"ret{uuid.uuid4().hex[:8]}"
    sql(
        database_url,
        "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date, "
        "period_label) VALUES (%s, 'fred', 'OLD', '1700-01-01', '1700'), "
        "(%s, 'fred', 'NEW', '2020-01-01', '2020')",
        tenant,
        tenant,
    )
    ids = sql(
        database_url,
        "INSERT INTO kafka_outbox (topic, key, payload, sent_at, created_at) VALUES "
        "(%s, 'long-sent', '{}', now() - interval '30 days', now() - interval '31 days'), "
        "(%s, 'just-sent', '{}', now() - interval '1 day', now() - interval '31 days'), "
        "(%s, 'unsent', '{}', NULL, now() - interval '31 days') RETURNING id, key",
        *[f"aurum.ref.{tenant}.series.v1"] * 3,
    )
    run = await _retention_run(settings, tmp_path)
    assert run["status"] == "succeeded", run
    assert run["progress"]["deleted"] >= 1 and run["progress"]["outbox_deleted"] >= 1
    left = sql(
        database_url,
        "SELECT series_id FROM external_timeseries_obs WHERE tenant_id = %s",
        tenant,
    )
    assert left == [("NEW",)]
    kept = sql(
        database_url,
        "SELECT key FROM kafka_outbox WHERE id = ANY(%s) ORDER BY key",
        [row_id for row_id, _ in ids],
    )
    assert kept == [("just-sent",), ("unsent",)]
    sql(database_url, "DELETE FROM external_timeseries_obs WHERE tenant_id = %s", tenant)
    sql(database_url, "DELETE FROM external_series_monthly_stats WHERE tenant_id = %s", tenant)
    sql(database_url, "DELETE FROM kafka_outbox WHERE id = ANY(%s)", [i for i, _ in ids])


async def test_retention_deletes_and_recomputes_the_monthly_stats_it_thins(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """A month wholly before the cutoff loses its stats row; the cutoff's own month keeps one
    for the days left."""
    tenant = f"ret{uuid.uuid4().hex[:8]}"
    cutoff = datetime.now(UTC).date() - timedelta(days=100_000)
    days = [cutoff - timedelta(days=40), cutoff - timedelta(days=1), cutoff, cutoff + timedelta(3)]
    for day in days:
        sql(
            database_url,
            "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date,"
            " period_label) VALUES (%s, 'fred', 'S', %s, '')",
            tenant,
            day,
        )
    seed_stats(database_url, tenant)  # as the ingest would have left them
    run = await _retention_run(settings, tmp_path)
    assert run["status"] == "succeeded", run
    try:
        left, grouped = stats_and_grouped(database_url, tenant)
        assert left == grouped
        # The days before the cutoff are gone, with their month's row; the rest are counted.
        assert left[0][4] == cutoff and sum(row[2] for row in left) == 2
    finally:
        sql(database_url, "DELETE FROM external_timeseries_obs WHERE tenant_id = %s", tenant)
        forget_stats(database_url, tenant)
