"""The issue's "done when" path, through the runbook's endpoints: FRED served by the sandbox
(as its live base URL), the scheduler on; a fault injected for FRED makes its health go
`degraded` and then `down` with the breaker open, its SLA show missed freshness, and the
runbook's Redis key follow."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis

from app.auth.principal import Role
from app.resilience import call_log
from app.resilience.quota_windows import windows
from app.sandbox.server import SandboxServer
from app.settings import ProviderMode, Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.scheduling import finished_run, provider_file, sql

API = "/v1/admin/external"


def _fred_on_sandbox(sandbox: SandboxServer) -> Any:
    def edit(data: dict[str, Any]) -> None:
        for name, section in data["providers"].items():
            section["enabled"] = name == "fred"  # only FRED: nothing else is called
        fred = data["providers"]["fred"]
        fred["base_url"] = sandbox.base_urls()["fred"]
        fred["retry"] = {"attempts": 1, "base_delay_seconds": 0, "timeout_seconds": 5}
        fred["circuit_breaker"] = {"failure_threshold": 6, "open_minutes": 30}
        # Daily, as the runbook has it: the SLA's freshness target follows the schedule. With
        # the test's 60 s misfire grace a start at 06:00-06:01 would also run a catch-up slot.
        fred["schedule"] = {"ingest": "0 6 * * *"}

    return edit


async def _run(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    queued = await client.post(f"{API}/jobs/ingest.fred/trigger", headers=headers)
    assert queued.status_code == 202, queued.text
    return await finished_run(client, queued.json()["run"]["id"], headers)


async def test_a_fault_takes_fred_degraded_then_down_and_its_sla_misses_freshness(
    settings: Settings,
    database_url: str,
    redis_url: str,
    sandbox: SandboxServer,
    tmp_path: Path,
) -> None:
    sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.fred'")
    sql(database_url, "DELETE FROM job_pauses")
    redis = Redis.from_url(redis_url, decode_responses=True)
    await redis.delete(call_log.calls_key("fred"), "external:provider_status:fred")
    local = settings.model_copy(
        update={
            "scheduler_enabled": True,
            "scheduler_sync_seconds": 0.2,
            "job_auto_pause_failures": 100,  # the breaker, not auto-pause, takes it down here
            "scheduler_misfire_grace_seconds": 60,
            "provider_mode": ProviderMode.LIVE,
            "fred_api_key": SecretStr("a" * 32),
            "provider_config_path": provider_file(tmp_path, _fred_on_sandbox(sandbox)),
        }
    )
    operator = bearer(local, Role.OPERATOR)
    control = httpx.AsyncClient(base_url=sandbox.url)
    try:
        async with client_for(local) as client:
            await client.post(f"{API}/circuit-breakers/fred/reset", headers=operator)
            assert (await _run(client, operator))["status"] == "succeeded"
            fred = (await client.get(f"{API}/health/fred", headers=operator)).json()
            assert fred["mode"] == "live"
            assert fred["last_success_at"] is not None
            assert fred["last_run"]["status"] == "succeeded"
            assert fred["status"] != "down", fred["reasons"]

            added = await control.post(
                "/_sandbox/faults", json={"kind": "status", "provider": "fred", "status": 503}
            )
            assert added.status_code == 201, added.text

            # The first failed run: calls failed, the breaker is still closed.
            first = await _run(client, operator)
            assert first["status"] == "failed"
            fred = (await client.get(f"{API}/health/fred", headers=operator)).json()
            assert fred["breaker"]["state"] == "closed"
            assert fred["status"] == "degraded", fred
            assert {"last ingest run failed", "recent provider calls failed"} <= set(
                fred["reasons"]
            )
            assert fred["last_error"]["http_status"] == 503
            stored = json.loads(await redis.get("external:provider_status:fred") or "{}")
            assert stored["status"] == "degraded"

            # The last success was 30 h ago (as if the provider had been failing since).
            past = datetime.now(UTC) - timedelta(hours=30)
            sql(
                database_url,
                "UPDATE job_runs SET created_at = %s, started_at = %s, finished_at = %s "
                "WHERE job_id = 'ingest.fred'",
                past, past, past,
            )  # fmt: skip

            # More failures open the breaker: down.
            for _ in range(6):
                if fred["breaker"]["state"] == "open":
                    break
                await _run(client, operator)
                fred = (await client.get(f"{API}/health/fred", headers=operator)).json()
            assert fred["breaker"]["state"] == "open"
            assert fred["status"] == "down"
            assert fred["reason"] == "circuit breaker open"
            assert fred["breaker_events"][0]["to"] == "open"
            body = (await client.get("/health/external", headers=operator)).json()
            assert body["providers"]["fred"]["status"] == "down"
            assert body["status"] == "down"  # FRED is the only enabled provider
            stored = json.loads(await redis.get("external:provider_status:fred") or "{}")
            assert stored["status"] == "down"

            sla = (await client.get("/sla/external?window=24h", headers=operator)).json()
            freshness = sla["providers"]["fred"]["freshness"]
            assert freshness["met"] is False
            assert freshness["deadlines_met_share"] < 0.99
            assert "fred" in sla["overall"]["freshness"]["providers_missed"]
            requests = sla["providers"]["fred"]["request_success_rate"]
            assert requests["met"] is False
    finally:
        await control.delete("/_sandbox/faults")
        await control.aclose()
        async with client_for(settings) as client:
            await client.post(f"{API}/circuit-breakers/fred/reset", headers=operator)
        # Leave FRED as the suite found it: no rows, checkpoints or quota use of ours.
        mine = "SELECT id FROM job_runs WHERE job_id = 'ingest.fred'"
        sql(database_url, f"DELETE FROM external_timeseries_obs WHERE run_id IN ({mine})")
        sql(database_url, f"DELETE FROM ingest_checkpoints WHERE run_id IN ({mine})")
        sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.fred'")
        await redis.delete(call_log.calls_key("fred"), "external:provider_status:fred")
        await redis.delete(*(window.key for window in windows("fred")))
        await redis.aclose()
