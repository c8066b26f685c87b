"""Backfills: estimated first, refused over quota with the numbers, validated field by field,
and run (throttled) with progress per dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.auth.principal import Role
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.scheduling import finished_run, provider_file, sql

URL = "/v1/admin/external/backfill"
RUNBOOK = {
    "providers": [{"name": "fred", "datasets": ["DEXUSEU"]}],
    "start": "2024-09-23",
    "end": "2024-09-23",
}


def _small_fred_quota(data: dict[str, Any]) -> None:
    data["providers"]["fred"]["quota"]["daily"] = 5


def _backfills(database_url: str) -> int:
    return sql(database_url, "SELECT count(*) FROM job_runs WHERE trigger = 'backfill'")[0][0]


async def test_a_backfill_over_quota_is_refused_with_the_estimate(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    local = settings.model_copy(
        update={"provider_config_path": provider_file(tmp_path, _small_fred_quota)}
    )
    operator = bearer(local, Role.OPERATOR)
    every_fred = {"providers": [{"name": "fred"}], "start": "2024-01-01", "end": "2024-09-30"}
    before = _backfills(database_url)
    async with client_for(local) as client:
        dry = await client.post(URL, json=every_fred | {"dry_run": True}, headers=operator)
        assert dry.status_code == 200, dry.text  # nothing queued: not "accepted"
        estimate = dry.json()["estimate"]["fred"]
        assert estimate["requests"] == 8  # 4 series: metadata + one observations page each
        assert estimate["daily_quota_remaining"] == 5
        assert estimate["fits"] is False

        refused = await client.post(URL, json=every_fred, headers=operator)
        assert refused.status_code == 409
        body = refused.json()
        assert "needs 8 requests" in body["message"] and "force" in body["message"]
        assert body["details"]["estimate"]["fred"]["requests"] == 8
        assert _backfills(database_url) == before  # nothing queued

        forced = await client.post(URL, json=every_fred | {"force": True}, headers=operator)
        assert forced.status_code == 202
        assert _backfills(database_url) == before + 1


async def test_bad_backfills_name_the_field_and_queue_nothing(
    settings: Settings, database_url: str
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    before = _backfills(database_url)
    cases = [
        (RUNBOOK | {"start": "2024-09-24", "end": "2024-09-23"}, "start"),
        (RUNBOOK | {"start": "1990-01-01", "end": "2024-09-23"}, "end"),
        (RUNBOOK | {"providers": [{"name": "bloomberg"}]}, "providers[0].name"),
        (
            RUNBOOK | {"providers": [{"name": "fred", "datasets": ["NOPE"]}]},
            "providers[0].datasets[0]",
        ),
        (RUNBOOK | {"end": "2999-01-01"}, "end"),
    ]
    async with client_for(settings) as client:
        for body, field in cases:
            response = await client.post(URL, json=body, headers=operator)
            assert response.status_code == 422, (body, response.text)
            assert response.json()["message"].startswith(field), response.json()
        missing = await client.post(URL, json={"start": "2024-09-23"}, headers=operator)
        assert missing.status_code == 422
    assert _backfills(database_url) == before


async def test_the_runbook_backfill_runs_with_progress_per_dataset(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    local = settings.model_copy(
        update={
            "scheduler_enabled": True,
            "scheduler_sync_seconds": 0.2,
            "provider_config_path": provider_file(tmp_path, lambda data: None),
        }
    )
    operator = bearer(local, Role.OPERATOR)
    async with client_for(local) as client:
        response = await client.post(URL, json=RUNBOOK, headers=operator)
        assert response.status_code == 202, response.text
        [run] = response.json()["runs"]
        assert run["trigger"] == "backfill" and run["job_id"] == "ingest.fred"
        assert run["progress"] == {"DEXUSEU": {"status": "pending", "rows": 0}}
        run = await finished_run(client, run["id"], operator)
    assert run["status"] == "succeeded", run
    assert run["progress"]["DEXUSEU"]["status"] == "done"
    assert run["parameters"]["start"] == "2024-09-23"
    rows = sql(
        database_url,
        "SELECT obs_date FROM external_timeseries_obs WHERE provider = 'fred' "
        "AND series_id = 'DEXUSEU' AND obs_date = '2024-09-23'",
    )
    assert len(rows) <= 1  # the window only (the sandbox may have a gap that day)
