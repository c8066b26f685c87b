"""Job control through the API: pauses made on a follower reach the leader and outlive a
restart; triggered runs appear in /runs with their counters; cancel; bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx

from app.auth.principal import Role
from app.jobs.scheduler import JobScheduler
from app.main import create_app
from app.settings import Settings
from tests.support.apps import client_for, running_app
from tests.support.auth import bearer
from tests.support.scheduling import finished_run, leader, provider_file, sql, wait_for

JOBS = "/v1/admin/external/jobs"
RUNS = "/v1/admin/external/runs"


@asynccontextmanager
async def _replicas(
    settings: Settings, tmp_path: Path, names: tuple[str, ...]
) -> AsyncIterator[dict[str, tuple[httpx.AsyncClient, JobScheduler]]]:
    config = provider_file(tmp_path, lambda data: None)
    async with AsyncExitStack() as stack:
        out = {}
        for name in names:
            app = create_app(
                settings.model_copy(
                    update={
                        "replica_id": name,
                        "scheduler_enabled": True,
                        "leader_poll_seconds": 0.2,
                        "scheduler_sync_seconds": 0.2,
                        "provider_config_path": config,
                    }
                )
            )
            client = await stack.enter_async_context(running_app(app))
            out[name] = (client, app.state.resources.scheduler)
        yield out


async def test_a_pause_on_a_follower_reaches_the_leader_and_survives_restarts(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    sql(database_url, "DELETE FROM job_pauses")
    operator = bearer(settings, Role.OPERATOR)
    names = ("replica-a", "replica-b")
    async with _replicas(settings, tmp_path, names) as replicas:
        lead = await wait_for(lambda: leader(database_url), timeout=10, what="a leader")
        follower = next(name for name in names if name != lead)
        client, _ = replicas[follower]
        scheduler = replicas[lead][1]
        assert scheduler.next_run_time("ingest.fred") is not None

        paused = await client.post(
            f"{JOBS}/ingest.fred/pause", json={"reason": "FRED 5xx"}, headers=operator
        )
        assert paused.status_code == 200, paused.text
        assert paused.json()["pause"]["reason"] == "FRED 5xx"
        await wait_for(
            lambda: scheduler.next_run_time("ingest.fred") is None,
            timeout=5,
            what="the leader to pause the job",
        )
        again = await client.post(f"{JOBS}/ingest.fred/pause", json={}, headers=operator)
        assert again.status_code == 200
        assert again.json()["changed"] is False
        assert again.json()["pause"]["reason"] == "FRED 5xx"  # the existing pause

    async with _replicas(settings, tmp_path, names) as replicas:
        lead = await wait_for(lambda: leader(database_url), timeout=10, what="a leader")
        client, scheduler = replicas[lead]
        await wait_for(lambda: scheduler.is_leader, timeout=5, what="leadership")
        jobs = (await client.get(JOBS, headers=bearer(settings, Role.VIEWER))).json()["jobs"]
        fred = next(job for job in jobs if job["id"] == "ingest.fred")
        assert fred["paused"] is True
        assert fred["pause"]["by"] == "jwt:tester"
        assert fred["next_run_at"] is None
        assert scheduler.next_run_time("ingest.fred") is None

        resumed = await client.post(f"{JOBS}/ingest.fred/resume", headers=operator)
        assert resumed.json()["changed"] is True
        await wait_for(
            lambda: scheduler.next_run_time("ingest.fred") is not None,
            timeout=5,
            what="the leader to resume the job",
        )


async def test_a_triggered_run_appears_in_runs_with_its_counters(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    # Other tests collected FRED from sandboxes of their own: start from no checkpoints.
    sql(database_url, "DELETE FROM ingest_checkpoints WHERE provider = 'fred'")
    async with _replicas(settings, tmp_path, ("solo",)) as replicas:
        client, scheduler = replicas["solo"]
        await wait_for(lambda: scheduler.is_leader, timeout=10, what="leadership")
        response = await client.post(f"{JOBS}/ingest.fred/trigger", headers=operator)
        assert response.status_code == 202, response.text
        run_id = response.json()["run"]["id"]
        assert response.json()["run"]["status"] == "queued"

        run = await finished_run(client, run_id, operator)
        assert run["status"] == "succeeded", run
        assert run["trigger"] == "manual"
        assert run["replica_id"] == "solo"
        assert run["rows_new"] > 0 and run["requests_used"] > 0
        assert run["duration_ms"] is not None
        assert {entry["status"] for key, entry in run["progress"].items() if key[0] != "_"} == {
            "done"
        }

        listed = await client.get(RUNS, params={"job": "ingest.fred"}, headers=operator)
        assert run_id in [item["id"] for item in listed.json()["items"]]
        failed = await client.get(RUNS, params={"status": "failed"}, headers=operator)
        assert failed.status_code == 200

        finished_cancel = await client.post(f"{RUNS}/{run_id}/cancel", headers=operator)
        assert finished_cancel.status_code == 409


async def test_bad_job_control_input_gets_clear_errors(settings: Settings) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        unknown = await client.post(f"{JOBS}/ingest.nope/pause", headers=operator)
        assert unknown.status_code == 404
        assert "ingest.fred" in unknown.json()["message"]  # lists the known jobs
        assert (await client.get(f"{RUNS}/not-a-uuid", headers=operator)).status_code == 422
        missing = await client.get(f"{RUNS}/00000000-0000-0000-0000-000000000000", headers=operator)
        assert missing.status_code == 404
        bad = await client.post(
            f"{JOBS}/ingest.fred/trigger", json={"datasets": ["NOPE"]}, headers=operator
        )
        assert bad.status_code == 422
        assert "datasets[0]" in bad.json()["message"]
        probe = await client.post(f"{JOBS}/probe.fred/trigger", headers=operator)
        assert probe.status_code == 409
        viewer = await client.post(
            f"{JOBS}/ingest.fred/pause", headers=bearer(settings, Role.VIEWER)
        )
        assert viewer.status_code == 403
        cursor = await client.get(RUNS, params={"cursor": "garbage"}, headers=operator)
        assert cursor.status_code == 422


async def test_the_old_quality_job_id_names_the_full_history_job(
    settings: Settings, database_url: str
) -> None:
    """Runbooks and scripts that say `monitor.quality` keep working after the rename."""
    sql(database_url, "DELETE FROM job_pauses WHERE job_id = 'quality.full_history'")
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        jobs = (await client.get(JOBS, headers=operator)).json()["jobs"]
        assert "quality.full_history" in {job["id"] for job in jobs}
        assert "monitor.quality" not in {job["id"] for job in jobs}
        old = await client.get(f"{JOBS}/monitor.quality", headers=operator)
        assert old.status_code == 200 and old.json()["id"] == "quality.full_history"
        paused = await client.post(f"{JOBS}/monitor.quality/pause", json={}, headers=operator)
        assert paused.status_code == 200 and paused.json()["job_id"] == "quality.full_history"
        job = (await client.get(f"{JOBS}/quality.full_history", headers=operator)).json()
        assert job["pause"] is not None
        resumed = await client.post(f"{JOBS}/monitor.quality/resume", json={}, headers=operator)
        assert resumed.status_code == 200 and resumed.json()["changed"] is True
