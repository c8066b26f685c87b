"""Runs that fail, stall or are interrupted: auto-pause after N scheduled failures in a row
(never after manual ones), the requests a failed run made, abandoned runs, and a graceful
shutdown that stops runs and frees leadership."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis as redis_sync
from pydantic import SecretStr

from app.auth.principal import Role
from app.jobs.leader import lock_id
from app.settings import ProviderMode, Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.scheduling import finished_run, provider_file, sql, wait_for

JOBS = "/v1/admin/external/jobs"
RUNS = "/v1/admin/external/runs"


def _unreachable_fred(data: dict[str, Any], *, attempts: int = 1, every: str | None = None) -> None:
    fred = data["providers"]["fred"]
    fred["base_url"] = "http://127.0.0.1:9/fred/"  # discard port: connection refused
    fred["retry"] = {"attempts": attempts, "base_delay_seconds": 0, "timeout_seconds": 2}
    fred["circuit_breaker"] = {"failure_threshold": 100, "open_minutes": 1}  # stays closed
    if every is not None:
        fred["schedule"]["ingest"] = every


def _failing_fred(settings: Settings, tmp_path: Path, **kwargs: Any) -> Settings:
    return settings.model_copy(
        update={
            "scheduler_enabled": True,
            "scheduler_sync_seconds": 0.2,
            "job_auto_pause_failures": 2,
            "provider_mode": ProviderMode.LIVE,
            "fred_api_key": SecretStr("k" * 32),
            "provider_config_path": provider_file(
                tmp_path, lambda data: _unreachable_fred(data, **kwargs)
            ),
        }
    )


async def test_a_job_failing_n_scheduled_runs_in_a_row_pauses_itself(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    sql(database_url, "DELETE FROM job_pauses")
    sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.fred'")
    local = _failing_fred(settings, tmp_path, every="every 1s")
    operator = bearer(local, Role.OPERATOR)
    async with client_for(local) as client:
        await wait_for(
            lambda: sql(database_url, "SELECT 1 FROM job_pauses WHERE job_id = 'ingest.fred'"),
            timeout=20,
            what="two scheduled failures to pause the job",
        )
        failed = sql(
            database_url,
            "SELECT count(*) FROM job_runs WHERE job_id = 'ingest.fred' AND status = 'failed' "
            "AND trigger = 'scheduled'",
        )
        assert failed[0][0] >= 2
        job = (await client.get(f"{JOBS}/ingest.fred", headers=operator)).json()
        assert job["paused"] is True
        assert job["pause"]["automatic"] is True and job["pause"]["by"] == "system"
        assert "2 failed runs in a row" in job["pause"]["reason"]
        metrics = (await client.get("/metrics")).text
        assert 'aurum_job_auto_paused{job_id="ingest.fred"} 1.0' in metrics
        refused = await client.post(f"{JOBS}/ingest.fred/trigger", headers=operator)
        assert refused.status_code == 409  # paused: resume first, or force
    audit = sql(database_url, "SELECT principal FROM audit_log WHERE action = 'job.auto_pause'")
    assert ("system",) in audit
    sql(database_url, "DELETE FROM job_pauses")


def _forget_fred_breaker(redis_url: str) -> None:
    client = redis_sync.Redis.from_url(redis_url)
    keys = list(client.scan_iter("resilience:breaker:fred*"))
    if keys:
        client.delete(*keys)


async def test_manual_failures_never_auto_pause_a_job(
    settings: Settings, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """An operator triggering a job by hand during an outage must not pause it."""
    sql(database_url, "DELETE FROM job_pauses")
    sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.fred'")
    _forget_fred_breaker(redis_url)
    local = _failing_fred(settings, tmp_path)
    operator = bearer(local, Role.OPERATOR)
    async with client_for(local) as client:
        for _ in range(3):
            run = await _manual_run(client, operator)
            assert run["status"] == "failed" and run["error_summary"]
        job = (await client.get(f"{JOBS}/ingest.fred", headers=operator)).json()
        assert job["paused"] is False
    assert sql(database_url, "SELECT count(*) FROM job_pauses") == [(0,)]


async def test_a_failed_run_records_every_attempt_it_made(
    settings: Settings, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    sql(database_url, "DELETE FROM job_pauses")
    sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.fred'")
    _forget_fred_breaker(redis_url)
    local = _failing_fred(settings, tmp_path, attempts=3)
    operator = bearer(local, Role.OPERATOR)
    async with client_for(local) as client:
        run = await _manual_run(client, operator)
    assert run["status"] == "failed" and "3 attempts" in run["error_summary"]
    assert run["requests_used"] == 3  # one call, retried twice: every attempt counts


async def _manual_run(client: Any, operator: dict[str, str]) -> dict[str, Any]:
    queued = await client.post(f"{JOBS}/ingest.fred/trigger", headers=operator)
    assert queued.status_code == 202, queued.text
    return await finished_run(client, queued.json()["run"]["id"], operator)


async def test_a_run_whose_heartbeat_stopped_is_abandoned_by_the_leader(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """A run of another replica (here a hand run) whose heartbeat went silent is abandoned by
    the leader within `run_stale_after_seconds` plus a sync, and health's last run says so."""
    sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.noaa'")
    [(run_id,)] = sql(
        database_url,
        "INSERT INTO job_runs (id, job_id, provider, trigger, status, replica_id, started_at, "
        "heartbeat_at) VALUES (gen_random_uuid(), 'ingest.noaa', 'noaa', 'manual', 'running', "
        "'runner@gone', now() - interval '1 minute', now()) RETURNING id",
    )
    local = settings.model_copy(
        update={
            "scheduler_enabled": True,
            "scheduler_sync_seconds": 0.2,
            "run_heartbeat_seconds": 0.5,
            "run_stale_after_seconds": 2.0,
            "provider_config_path": provider_file(tmp_path, lambda data: None),
        }
    )
    operator = bearer(local, Role.OPERATOR)
    async with client_for(local) as client:
        await wait_for(
            lambda: (
                sql(database_url, "SELECT status FROM job_runs WHERE id = %s", run_id)
                == [("abandoned",)]
            ),
            timeout=5,
            what="the silent run to be abandoned",
        )
        stale = (await client.get(f"{RUNS}/{run_id}", headers=operator)).json()
        health = (await client.get("/v1/admin/external/health/noaa", headers=operator)).json()
    assert "no heartbeat for 2s" in stale["error_summary"]
    assert health["last_run"]["id"] == str(run_id)
    assert health["last_run"]["status"] == "abandoned"


async def test_shutdown_stops_running_runs_and_frees_leadership(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    local = settings.model_copy(
        update={
            "scheduler_enabled": True,
            "scheduler_sync_seconds": 0.2,
            "shutdown_grace_seconds": 1.0,
            "provider_config_path": provider_file(tmp_path, lambda data: None),
            # A slow backfill: one request every 20 s keeps it running when we stop.
            "backfill_rate_share": 0.025,
        }
    )
    operator = bearer(local, Role.OPERATOR)
    async with client_for(local) as client:
        response = await client.post(
            "/v1/admin/external/backfill",
            json={"providers": [{"name": "fred"}], "start": "2024-01-01", "end": "2024-01-31"},
            headers=operator,
        )
        run_id = response.json()["runs"][0]["id"]
        await wait_for(
            lambda: (
                sql(database_url, "SELECT status FROM job_runs WHERE id = %s", run_id)[0][0]
                == "running"
            ),
            timeout=10,
            what="the backfill to start",
        )
    [(status, summary)] = sql(
        database_url, "SELECT status, error_summary FROM job_runs WHERE id = %s", run_id
    )
    assert status == "cancelled"
    assert "shutdown" in summary
    [(free,)] = sql(database_url, "SELECT pg_try_advisory_lock(%s)", lock_id(local.tenant_id))
    assert free  # leadership was released (this connection closes and frees it again)
