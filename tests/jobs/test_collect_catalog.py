"""A collection keeps the catalog current, and everything it lists can be read.

For each provider: its ingest job, triggered over the API, collects from the sandbox; then the
read API lists the provider's catalog (every collected series, with its title, frequency,
units and observation range) and every listed series is read back page by page, with its id
as listed and percent-encoded, and counted against PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.principal import Role
from app.providers.config import PROVIDER_NAMES
from app.settings import ProviderMode, Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.scheduling import finished_run, provider_file, sql

JOBS = "/v1/admin/external/jobs"
SERIES = "/v1/external/series"


def _configured(path: Path, provider: str) -> list[str]:
    import yaml

    data = yaml.safe_load(path.read_text())
    return [str(d["series_id"]) for d in data["providers"][provider]["datasets"]]


async def _catalog(client: httpx.AsyncClient, provider: str, headers: dict[str, str]) -> list[Any]:
    listed: list[Any] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"provider": provider, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(SERIES, params=params, headers=headers)
        assert page.status_code == 200, page.text
        listed += page.json()["series"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return listed


async def _dates(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[str]:
    """Every observation date of the series, following the cursor."""
    dates: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(url, params=params, headers=headers)
        assert page.status_code == 200, (url, page.text)
        dates += [o["date"] for o in page.json()["observations"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return dates


async def _collect(
    client: httpx.AsyncClient, provider: str, headers: dict[str, str]
) -> dict[str, Any]:
    queued = await client.post(f"{JOBS}/ingest.{provider}/trigger", headers=headers)
    assert queued.status_code == 202, queued.text
    run = await finished_run(client, queued.json()["run"]["id"], headers)
    assert run["status"] == "succeeded", run
    return run


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_a_collection_lists_every_series_and_each_reads_back_in_full(
    provider: str, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    path = provider_file(tmp_path, lambda data: None)
    local = settings.model_copy(
        update={
            "scheduler_enabled": True,
            "scheduler_sync_seconds": 0.2,
            "provider_mode": ProviderMode.SANDBOX,
            "provider_config_path": path,
            "tenant_id": f"catalog{uuid.uuid4().hex[:6]}",  # this test's rows alone
        }
    )
    operator = bearer(local, Role.OPERATOR)
    reader = bearer(local, Role.READER)
    configured = _configured(path, provider)
    async with client_for(local) as client:
        await _collect(client, provider, operator)

        listed = await _catalog(client, provider, reader)
        by_id = {entry["series_id"]: entry for entry in listed}
        assert set(configured) <= set(by_id), sorted(set(configured) - set(by_id))

        for series_id, entry in by_id.items():
            stored = sql(
                database_url,
                "SELECT obs_date::text FROM external_timeseries_obs WHERE tenant_id = %s "
                "AND provider = %s AND series_id = %s ORDER BY obs_date",
                local.tenant_id,
                provider,
                series_id,
            )
            truth = [day for (day,) in stored]
            base = f"{SERIES}/{provider}"
            as_listed = await _dates(client, f"{base}/{series_id}/observations", reader)
            encoded = series_id.replace("/", "%2F")
            as_encoded = await _dates(client, f"{base}/{encoded}/observations", reader)
            assert as_listed == truth == as_encoded, series_id
            if series_id in configured:
                assert truth, f"{series_id}: collected nothing"
                assert entry["title"] and entry["frequency"], entry
                assert entry["observation_start"] == truth[0], entry
                assert entry["observation_end"] == truth[-1], entry

        # Series stored while the catalog was not kept: the next run lists them, although
        # nothing changed and nothing is fetched.
        sql(
            database_url,
            "DELETE FROM datasets WHERE provider = %s AND series_id = ANY(%s)",
            provider,
            configured,
        )
        run = await _collect(client, provider, operator)
        assert run["rows_new"] == 0, run
        relisted = {e["series_id"]: e for e in await _catalog(client, provider, reader)}
        for series_id in configured:
            assert relisted[series_id]["observation_end"] == by_id[series_id]["observation_end"]
