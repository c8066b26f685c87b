"""One provider collected from the test's sandbox as if it were its live API, with a breaker
that opens at the first failed call: the setup of the outage and recovery tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
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
CREDENTIALS = {"fred": "fred_api_key", "eia": "eia_api_key", "noaa": "noaa_token"}


@dataclass
class Outage:
    """The running service (`client`), an operator's headers and the sandbox's control."""

    provider: str
    series_id: str
    client: httpx.AsyncClient
    headers: dict[str, str]
    sandbox: SandboxServer
    database_url: str
    tenant: str

    async def run(self, **parameters: Any) -> dict[str, Any]:
        """Trigger `ingest.<provider>` (with a window, if given) and wait for its end."""
        queued = await self.client.post(
            f"{API}/jobs/ingest.{self.provider}/trigger", headers=self.headers, json=parameters
        )
        assert queued.status_code == 202, queued.text
        return await finished_run(self.client, queued.json()["run"]["id"], self.headers)

    async def health(self) -> dict[str, Any]:
        reply = await self.client.get(f"{API}/health/{self.provider}", headers=self.headers)
        body: dict[str, Any] = reply.json()
        return body

    def fault(self, status: int = 503) -> None:
        rule = {"kind": "status", "provider": self.provider, "status": status}
        self.sandbox.control("POST", "faults", rule)

    def lift(self) -> None:
        self.sandbox.control("DELETE", "faults")

    def stored(self) -> dict[str, str | None]:
        rows = sql(
            self.database_url,
            "SELECT obs_date, raw_value FROM external_timeseries_obs "
            "WHERE tenant_id = %s AND provider = %s AND series_id = %s",
            self.tenant, self.provider, self.series_id,
        )  # fmt: skip
        return {d.isoformat(): v for d, v in rows}

    def recovery_pending(self) -> bool:
        rows = sql(
            self.database_url,
            "SELECT 1 FROM provider_recoveries WHERE provider = %s",
            self.provider,
        )
        return bool(rows)


@asynccontextmanager
async def outage_of(
    provider: str,
    series_id: str,
    *,
    settings: Settings,
    database_url: str,
    redis_url: str,
    sandbox: SandboxServer,
    tmp_path: Path,
    edit_more: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[Outage]:
    """The service with only `provider` enabled, collecting `series_id` from the sandbox;
    one attempt per call and a breaker that opens at the first failed call. Rows and
    checkpoints go to a tenant of this test's own; every trace is removed afterwards."""

    def edit(data: dict[str, Any]) -> None:
        for name, section in data["providers"].items():
            section["enabled"] = name == provider
        section = data["providers"][provider]
        section["base_url"] = sandbox.base_urls()[provider]
        section["datasets"] = [d for d in section["datasets"] if d["series_id"] == series_id]
        section["retry"] = {"attempts": 1, "base_delay_seconds": 0, "timeout_seconds": 5}
        section["circuit_breaker"] = {"failure_threshold": 1, "open_minutes": 60}
        if edit_more is not None:
            edit_more(data)

    tenant = f"t{uuid.uuid4().hex[:8]}"
    local = settings.model_copy(
        update={
            "tenant_id": tenant,
            "scheduler_enabled": True,
            "scheduler_sync_seconds": 0.2,
            "job_auto_pause_failures": 100,
            "provider_mode": ProviderMode.LIVE,
            **({CREDENTIALS[provider]: SecretStr("a" * 32)} if provider in CREDENTIALS else {}),
            "provider_config_path": provider_file(tmp_path, edit),
        }
    )
    redis = Redis.from_url(redis_url, decode_responses=True)
    job = f"ingest.{provider}"

    async def clean() -> None:
        sandbox.control("DELETE", "faults")
        sql(database_url, "DELETE FROM provider_recoveries WHERE provider = %s", provider)
        sql(database_url, "DELETE FROM job_pauses WHERE job_id = %s", job)
        await redis.delete(
            call_log.calls_key(provider),
            f"external:provider_status:{provider}",
            *(window.key for window in windows(provider)),
        )

    await clean()
    operator = bearer(local, Role.OPERATOR)
    try:
        async with client_for(local) as client:
            await client.post(f"{API}/circuit-breakers/{provider}/reset", headers=operator)
            sql(database_url, "DELETE FROM provider_recoveries WHERE provider = %s", provider)
            yield Outage(provider, series_id, client, operator, sandbox, database_url, tenant)
            await client.post(f"{API}/circuit-breakers/{provider}/reset", headers=operator)
    finally:
        await clean()
        for table in ("external_timeseries_obs", "ingest_checkpoints"):
            sql(database_url, f"DELETE FROM {table} WHERE tenant_id = %s", tenant)
        sql(database_url, "DELETE FROM job_runs WHERE job_id = %s", job)
        await redis.aclose()
