"""Reads on a real streaming replica (AURUM_DATABASE_READ_URL): the read API, health and SLA
answer from it while it keeps up; lagging or stopped, they answer from the primary (counted,
`/ready` unaffected); writes and API-key lookups never go to it.

Which server answered is told apart by data: while the standby's replay is paused, rows
written on the primary exist only there."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from app.auth.principal import Role
from app.db.read_sessions import ReadSessions
from app.main import create_app
from app.settings import Settings
from tests.support.apps import running_app
from tests.support.auth import bearer
from tests.support.scheduling import sql
from tests.support.streaming_replica import StreamingReplica, unavailable_reason


@pytest.fixture(scope="module")
def replica(
    env_settings: Settings, database_url: str, services_dir: Path
) -> Iterator[StreamingReplica]:
    reason = unavailable_reason(env_settings.database_url)
    if reason is not None:
        warnings.warn(f"READ REPLICA TESTS SKIPPED: {reason}", stacklevel=1)
        pytest.skip(f"*** READ REPLICA TESTS SKIPPED: {reason} ***")
    standby = StreamingReplica(database_url, services_dir / "replica").build()
    yield standby
    standby.stop()


@pytest.fixture
def replica_running(replica: StreamingReplica) -> Iterator[StreamingReplica]:
    """The standby streaming and replaying when the test starts, and again when it ends."""
    if not (replica.directory / "postmaster.pid").exists():
        replica.start()
    replica.resume_replay()
    replica.wait_replayed()
    yield replica
    if not (replica.directory / "postmaster.pid").exists():
        replica.start()
    replica.resume_replay()


@asynccontextmanager
async def app_on(
    settings: Settings, replica: StreamingReplica, max_lag: float
) -> AsyncIterator[tuple[httpx.AsyncClient, ReadSessions]]:
    on_replica = settings.model_copy(
        update={
            "database_read_url": replica.url,
            "database_read_max_lag_seconds": max_lag,
            "health_cache_seconds": 0.0,
        }
    )
    app = create_app(on_replica)
    async with running_app(app) as client:
        yield client, app.state.resources.reads


def fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("aurum_db_read_fallback_total", {"reason": reason}) or 0.0


def seed(database_url: str, tenant: str, series: str, first: date, rows: int) -> None:
    sql(
        database_url,
        "INSERT INTO providers (name, display_name, enabled, mode, base_url) "
        "VALUES ('fred', 'FRED', true, 'live', '') ON CONFLICT DO NOTHING",
    )
    sql(
        database_url,
        "INSERT INTO datasets (provider, series_id, title, frequency, enabled, attributes) "
        "VALUES ('fred', %s, 'replica test', 'Daily', true, '{}') ON CONFLICT DO NOTHING",
        series,
    )
    for day in range(rows):
        sql(
            database_url,
            "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date, "
            "period_label, value, raw_value, units, metadata) "
            "VALUES (%s, 'fred', %s, %s, %s, %s, %s, 'Percent', '{}')",
            tenant, series, first + timedelta(days=day), str(first + timedelta(days=day)),
            day, str(day),
        )  # fmt: skip


@pytest.fixture
def series(database_url: str) -> Iterator[str]:
    name = f"R{uuid.uuid4().hex[:8].upper()}"
    yield name
    sql(database_url, "DELETE FROM external_timeseries_obs WHERE series_id = %s", name)
    sql(database_url, "DELETE FROM datasets WHERE series_id = %s", name)


async def count(client: httpx.AsyncClient, headers: dict[str, str], series: str) -> int:
    """Observations the read API serves for `series`. The `external_read_cache` flag is off
    (its default): every read reaches a database."""
    response = await client.get(f"/v1/external/series/fred/{series}/observations", headers=headers)
    assert response.status_code == 200, response.text
    return len(response.json()["observations"])


async def test_reads_come_from_the_replica_and_fall_back_when_it_lags(
    settings: Settings, database_url: str, replica_running: StreamingReplica, series: str
) -> None:
    reader = bearer(settings, Role.READER)
    seed(database_url, settings.tenant_id, series, date(2024, 1, 1), 3)
    replica_running.wait_replayed()
    async with app_on(settings, replica_running, max_lag=3.0) as (client, reads):
        assert await count(client, reader, series) == 3
        catalog = await client.get("/v1/external/series", params={"q": series}, headers=reader)
        assert [s["series_id"] for s in catalog.json()["series"]] == [series]

        replica_running.pause_replay()
        seed(database_url, settings.tenant_id, series, date(2024, 2, 1), 2)
        await asyncio.sleep(1.1)  # past the cached verdict: the next read checks the lag
        # Within the max lag the replica still answers: the paused standby lacks the 2 rows.
        assert await count(client, reader, series) == 3
        assert reads.lag_seconds is not None and 0 < reads.lag_seconds <= 3.0

        before = fallbacks("lag")
        # Once the lag exceeds the max, reads go to the primary, which has all 5.
        deadline = asyncio.get_running_loop().time() + 15
        while await count(client, reader, series) != 5:
            assert asyncio.get_running_loop().time() < deadline, "reads never fell back"
            await asyncio.sleep(0.2)
        assert fallbacks("lag") > before
        assert (await client.get("/ready")).status_code == 200

        replica_running.resume_replay()
        replica_running.wait_replayed()
        await asyncio.sleep(1.1)
        # While the replica is unfit its check runs beside the reads (they do not wait for
        # it): the read after the interval starts it, a later one sees its verdict.
        assert await count(client, reader, series) == 5
        # The verdict arrives when that check ends, later on a loaded machine: poll for it.
        # Caught up, no WAL pending is no lag, however old the last replayed commit.
        deadline = asyncio.get_running_loop().time() + 15
        while reads.lag_seconds != 0.0:
            assert asyncio.get_running_loop().time() < deadline, f"lag {reads.lag_seconds}"
            await asyncio.sleep(0.2)
            await count(client, reader, series)
        assert await reads.use_replica()


async def test_writes_and_key_lookups_use_the_primary_while_the_replica_is_paused(
    settings: Settings, replica_running: StreamingReplica, series: str, database_url: str
) -> None:
    seed(database_url, settings.tenant_id, series, date(2024, 1, 1), 1)
    replica_running.wait_replayed()
    replica_running.pause_replay()
    async with app_on(settings, replica_running, max_lag=3600.0) as (client, _):
        created = await client.post(
            "/v1/admin/api-keys",
            json={"name": "replica-paused", "role": "reader"},
            headers=bearer(settings, Role.ADMIN),
        )
        assert created.status_code == 201, created.text
        # The key exists on the primary only; it authenticates at once.
        key = {"X-API-Key": created.json()["key"]}
        assert await count(client, key, series) == 1
    key_id = created.json()["id"]
    assert sql(database_url, "SELECT count(*) FROM api_keys WHERE id = %s", key_id) == [(1,)]
    with replica_running.connect() as standby:
        on_standby = standby.execute("SELECT count(*) FROM api_keys WHERE id = %s", (key_id,))
        assert on_standby.fetchone() == (0,)


async def test_a_stopped_replica_falls_back_to_the_primary_and_stays_ready(
    settings: Settings, replica_running: StreamingReplica, series: str, database_url: str
) -> None:
    reader, viewer = bearer(settings, Role.READER), bearer(settings, Role.VIEWER)
    seed(database_url, settings.tenant_id, series, date(2024, 1, 1), 4)
    async with app_on(settings, replica_running, max_lag=30.0) as (client, reads):
        replica_running.stop()
        await asyncio.sleep(1.1)
        before = fallbacks("unreachable")
        assert await count(client, reader, series) == 4
        assert fallbacks("unreachable") > before
        assert reads.lag_seconds is None
        for path in ("/v1/admin/external/health", "/v1/admin/external/sla"):
            assert (await client.get(path, headers=viewer)).status_code == 200, path
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text

        replica_running.start()
        await asyncio.sleep(1.1)
        await count(client, reader, series)  # the first read after the interval rechecks
        await asyncio.sleep(0.2)
        assert reads.lag_seconds is not None and await reads.use_replica()


async def test_health_and_sla_answer_from_the_replica(
    settings: Settings, replica_running: StreamingReplica, database_url: str
) -> None:
    viewer = bearer(settings, Role.VIEWER)
    run_id, result_id = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    replica_running.pause_replay()
    # On the primary only: a fred ingest run newer than any other, a completed validation.
    sql(
        database_url,
        "INSERT INTO job_runs (id, job_id, provider, trigger, status, started_at, finished_at, "
        "created_at, parameters, error_summary) VALUES (%s, 'ingest.fred', 'fred', 'manual', "
        "'failed', %s, %s, %s, '{}', 'replica test')",
        run_id, now, now, now + timedelta(days=1),
    )  # fmt: skip
    sql(
        database_url,
        "INSERT INTO validation_results (id, tenant_id, provider, suite, status, success, "
        "evaluated, successful, unsuccessful, started_at, finished_at) "
        "VALUES (%s, %s, 'fred', 'replica-test', 'completed', true, 1, 1, 0, %s, %s)",
        result_id, settings.tenant_id, now, now,
    )  # fmt: skip

    async def seen(client: httpx.AsyncClient) -> tuple[str | None, int]:
        health = await client.get("/v1/admin/external/health/fred", headers=viewer)
        sla = await client.get("/v1/admin/external/sla", headers=viewer)
        assert health.status_code == 200 and sla.status_code == 200, (health.text, sla.text)
        last_run = health.json()["last_run"] or {}
        return last_run.get("id"), sla.json()["providers"]["fred"]["validation_pass_rate"]["runs"]

    try:
        async with app_on(settings, replica_running, max_lag=3600.0) as (client, _):
            last_run, validations = await seen(client)
            assert last_run != str(run_id)
            replica_running.resume_replay()
            replica_running.wait_replayed()
            assert await seen(client) == (str(run_id), validations + 1)
    finally:
        replica_running.resume_replay()
        sql(database_url, "DELETE FROM job_runs WHERE id = %s", run_id)
        sql(database_url, "DELETE FROM validation_results WHERE id = %s", result_id)
