"""Runs that fail, stall or are interrupted: auto-pause after N failures in a row, abandoned
runs marked failed, and a graceful shutdown that stops runs and frees leadership."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from app.auth.principal import Role
from app.jobs.leader import lock_id
from app.settings import ProviderMode, Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.scheduling import finished_run, provider_file, sql, wait_for

JOBS = "/v1/admin/external/jobs"
RUNS = "/v1/admin/external/runs"


def _unreachable_fred(data: dict[str, Any]) -> None:
    fred = data["providers"]["fred"]
    fred["base_url"] = "http://127.0.0.1:9/fred/"  # discard port: connection refused
    fred["retry"] = {"attempts": 1, "base_delay_seconds": 0, "timeout_seconds": 2}


async def test_a_job_failing_n_times_in_a_row_pauses_itself(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    sql(database_url, "DELETE FROM job_pauses")
    sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.fred'")
    local = settings.model_copy(
        update={
            "scheduler_enabled": True,
            "scheduler_sync_seconds": 0.2,
            "job_auto_pause_failures": 2,
            "provider_mode": ProviderMode.LIVE,
            "fred_api_key": SecretStr("k" * 32),
            "provider_config_path": provider_file(tmp_path, _unreachable_fred),
        }
    )
    operator = bearer(local, Role.OPERATOR)
    async with client_for(local) as client:
        for _ in range(2):
            queued = await client.post(f"{JOBS}/ingest.fred/trigger", headers=operator)
            assert queued.status_code == 202, queued.text
            run = await finished_run(client, queued.json()["run"]["id"], operator)
            assert run["status"] == "failed"
            assert run["error_summary"]
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


async def test_a_run_whose_heartbeat_stopped_is_marked_failed(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    [(run_id,)] = sql(
        database_url,
        "INSERT INTO job_runs (id, job_id, trigger, status, started_at, heartbeat_at) "
        "VALUES (gen_random_uuid(), 'ingest.noaa', 'scheduled', 'running', "
        "now() - interval '1 hour', now() - interval '20 minutes') RETURNING id",
    )
    local = settings.model_copy(
        update={
            "scheduler_enabled": True,
            "scheduler_sync_seconds": 0.2,
            "provider_config_path": provider_file(tmp_path, lambda data: None),
        }
    )
    operator = bearer(local, Role.OPERATOR)
    async with client_for(local) as client:
        queued = await client.post(f"{JOBS}/monitor.staleness/trigger", headers=operator)
        monitor = await finished_run(client, queued.json()["run"]["id"], operator)
        assert monitor["status"] == "succeeded", monitor
        # This run, or the scheduled one that a new leader catches up, abandoned it.
        abandoned = sql(
            database_url,
            "SELECT count(*) FROM job_runs WHERE job_id = 'monitor.staleness' "
            "AND progress->'abandoned_runs' ? %s",
            str(run_id),
        )
        assert abandoned == [(1,)]
        stale = (await client.get(f"{RUNS}/{run_id}", headers=operator)).json()
    assert stale["status"] == "failed"
    assert "no heartbeat" in stale["error_summary"]


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
