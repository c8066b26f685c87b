"""maintenance.partitions and the partition half of maintenance.retention, triggered through
the API on the partitioned observations table: years ahead and years found in DEFAULT get a
partition (their rows moved into it), old partitions are dropped whole, the straddling one
loses only its old rows, and a DDL that cannot get its lock gives up within the lock timeout
instead of queueing every query behind it."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from app.auth.principal import Role
from app.db.engine import libpq_url
from app.main import create_app
from app.settings import Settings
from tests.support.apps import running_app
from tests.support.auth import bearer
from tests.support.scheduling import finished_run, provider_file, sql, wait_for
from tests.support.series_stats import forget_stats, seed_stats, stats_and_grouped

JOBS = "/v1/admin/external/jobs"
OBS = "external_timeseries_obs"
Edit = Callable[[dict[str, Any]], None]


@asynccontextmanager
async def _leader(
    settings: Settings, tmp_path: Path, edit: Edit
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    app = create_app(
        settings.model_copy(
            update={
                "scheduler_enabled": True,
                "leader_poll_seconds": 0.2,
                "scheduler_sync_seconds": 0.2,
                "provider_config_path": provider_file(tmp_path, edit),
            }
        )
    )
    async with running_app(app) as client:
        scheduler = app.state.resources.scheduler
        await wait_for(lambda: scheduler.is_leader, timeout=10, what="leadership")
        yield client, bearer(settings, Role.OPERATOR)


async def _run(client: httpx.AsyncClient, headers: dict[str, str], job: str) -> dict[str, Any]:
    response = await client.post(f"{JOBS}/{job}/trigger", headers=headers)
    assert response.status_code == 202, response.text
    return await finished_run(client, response.json()["run"]["id"], headers)


def _insert(database_url: str, tenant: str, *days: str) -> None:
    for i, day in enumerate(days):
        sql(
            database_url,
            f"INSERT INTO {OBS} (tenant_id, provider, series_id, obs_date, period_label) "
            "VALUES (%s, 'fred', %s, %s, 'p')",
            tenant,
            f"S{i}",
            day,
        )


def _where(database_url: str, tenant: str) -> list[tuple[str, str]]:
    rows = sql(
        database_url,
        f"SELECT obs_date::text, tableoid::regclass::text FROM {OBS} WHERE tenant_id = %s "
        "ORDER BY obs_date",
        tenant,
    )
    return [(str(day), str(part)) for day, part in rows]


def _partitions(database_url: str) -> set[str]:
    rows = sql(
        database_url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        OBS,
    )
    return {str(name) for (name,) in rows}


def _quiet(data: dict[str, Any]) -> None:
    pass


async def test_partitions_are_created_ahead_and_default_is_emptied(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    tenant = f"par{uuid.uuid4().hex[:8]}"
    _insert(database_url, tenant, "2150-03-01", "2150-11-30")
    assert {part for _, part in _where(database_url, tenant)} == {f"{OBS}_default"}
    async with _leader(settings, tmp_path, _quiet) as (client, operator):
        run = await _run(client, operator, "maintenance.partitions")
    assert run["status"] == "succeeded", run
    assert 2150 in run["progress"]["created"] and run["progress"]["rows_moved"] >= 2
    assert {part for _, part in _where(database_url, tenant)} == {f"{OBS}_y2150"}
    this_year = date.today().year
    ahead = {f"{OBS}_y{y}" for y in range(this_year, this_year + 12)}
    assert ahead <= _partitions(database_url)
    sql(database_url, f"DELETE FROM {OBS} WHERE tenant_id = %s", tenant)


async def test_a_partition_ddl_gives_up_on_a_held_lock(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """A reader holding ACCESS SHARE in an open transaction: the job waits the lock timeout
    (2 s), reports the run skipped, and the next run (lock released) creates the partition."""
    tenant = f"lck{uuid.uuid4().hex[:8]}"
    _insert(database_url, tenant, "2160-05-05")
    async with _leader(settings, tmp_path, _quiet) as (client, operator):
        with psycopg.connect(libpq_url(database_url)) as reader:
            reader.execute(f"LOCK TABLE {OBS} IN ACCESS SHARE MODE")
            started = time.monotonic()
            run = await _run(client, operator, "maintenance.partitions")
            elapsed = time.monotonic() - started
            reader.rollback()
        assert run["status"] == "skipped", run
        assert 2160 in run["progress"]["skipped"] and run["progress"]["created"] == []
        assert elapsed < 8, elapsed
        assert _where(database_url, tenant) == [("2160-05-05", f"{OBS}_default")]
        again = await _run(client, operator, "maintenance.partitions")
    assert again["status"] == "succeeded" and 2160 in again["progress"]["created"], again
    assert _where(database_url, tenant) == [("2160-05-05", f"{OBS}_y2160")]
    sql(database_url, f"DELETE FROM {OBS} WHERE tenant_id = %s", tenant)


async def test_retention_drops_old_partitions_and_deletes_only_the_boundarys_old_rows(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    tenant = f"drp{uuid.uuid4().hex[:8]}"
    _insert(database_url, tenant, "1850-01-01", "1925-06-01", "1952-01-01", "1958-01-01")
    _insert(database_url, f"{tenant}b", "2020-01-01")
    seed_stats(database_url, tenant)  # as the ingest would have left them
    # The horizon falls inside the 1950s partition: 1955-07-01.
    days = (datetime.now(UTC).date() - date(1955, 7, 1)).days

    def horizon(data: dict[str, Any]) -> None:
        data["jobs"] = {**data["jobs"], "retention_days": days}

    async with _leader(settings, tmp_path, horizon) as (client, operator):
        run = await _run(client, operator, "maintenance.retention")
    assert run["status"] == "succeeded", run
    progress = run["progress"]
    assert progress["cutoff"] == "1955-07-01" and progress["layout"] == "partitioned"
    assert {f"{OBS}_history", f"{OBS}_d1920"} <= set(progress["dropped_partitions"])
    assert progress["partitions_skipped"] == [] and progress["deleted"] >= 1
    left = _partitions(database_url)
    assert f"{OBS}_d1920" not in left and f"{OBS}_d1950" in left
    assert _where(database_url, tenant) == [("1958-01-01", f"{OBS}_d1950")]
    assert len(_where(database_url, f"{tenant}b")) == 1
    # Dropped partitions take their months' stats with them; the thinned month is recomputed.
    stats, grouped = stats_and_grouped(database_url, tenant)
    assert stats == grouped and len(stats) == 1
    sql(database_url, f"DELETE FROM {OBS} WHERE tenant_id IN (%s, %s)", tenant, f"{tenant}b")
    forget_stats(database_url, tenant)
