"""`python -m app.runner` as the runbooks type it, in sandbox mode (no credential set)."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

import psycopg

from app.auth.principal import Role
from app.db.engine import libpq_url
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.processes import clean_env


def _runner(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = clean_env(**env)
    return subprocess.run(
        [sys.executable, "-m", "app.runner", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_fred_collects_from_the_sandbox_then_costs_only_change_detection(
    database_url: str, redis_url: str
) -> None:
    tenant = f"runner{uuid.uuid4().hex[:6]}"
    env = {"AURUM_DATABASE_URL": database_url, "AURUM_REDIS_URL": redis_url}
    env["AURUM_TENANT_ID"] = tenant
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("DELETE FROM datasets WHERE provider = 'fred'")  # the run must list them
    first = _runner("--providers", "fred", "--log-level", "WARNING", **env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "SANDBOX MODE" in first.stdout + first.stderr
    assert "fred: 4 series checked" in first.stdout and "(sandbox" in first.stdout
    with psycopg.connect(libpq_url(database_url)) as conn:
        stored = conn.execute(
            "SELECT count(DISTINCT series_id) FROM external_timeseries_obs WHERE tenant_id = %s",
            (tenant,),
        ).fetchone()
        # The catalog: each collected series with its title and the last date stored.
        unlisted = conn.execute(
            "SELECT o.series_id FROM external_timeseries_obs o "
            "LEFT JOIN datasets d ON d.provider = o.provider AND d.series_id = o.series_id "
            "WHERE o.tenant_id = %s GROUP BY o.series_id, d.title, d.observation_end "
            "HAVING d.title IS NULL OR d.title = '' OR d.observation_end <> max(o.obs_date)",
            (tenant,),
        ).fetchall()
    assert stored == (4,)
    assert unlisted == []

    second = _runner("--providers", "fred", "--log-level", "WARNING", **env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "4 unchanged, 1 requests, rows 0 new, 0 changed" in second.stdout  # only the feed


def test_catalog_only_fills_the_dataset_catalog(database_url: str, redis_url: str) -> None:
    result = _runner(
        "--providers", "fred", "--catalog-only", "--log-level", "WARNING",
        AURUM_DATABASE_URL=database_url, AURUM_REDIS_URL=redis_url,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fred: catalog: 4 datasets (sandbox" in result.stdout
    with psycopg.connect(libpq_url(database_url)) as conn:
        # Collections elsewhere in the suite add their series too: look at the file's four.
        rows = conn.execute(
            "SELECT series_id, title <> '' FROM datasets WHERE provider = 'fred' "
            "AND series_id = ANY(%s) ORDER BY 1",
            (["DEXUSEU", "DGS10", "GDP", "UNRATE"],),
        ).fetchall()
    assert rows == [("DEXUSEU", True), ("DGS10", True), ("GDP", True), ("UNRATE", True)]


def test_bad_arguments_are_one_line_errors(database_url: str) -> None:
    result = _runner("--providers", "fred,nosuch", AURUM_DATABASE_URL=database_url)
    assert result.returncode == 1 and "nosuch" in result.stderr
    assert "Traceback" not in result.stderr


def test_all_four_providers_collect_from_the_sandbox_without_credentials(
    database_url: str, redis_url: str
) -> None:
    """The issue's own check: no credentials, all four providers, exit 0; the second run right
    after costs only change-detection requests and fetches nothing."""
    env = {"AURUM_DATABASE_URL": database_url, "AURUM_REDIS_URL": redis_url}
    env["AURUM_TENANT_ID"] = f"all{uuid.uuid4().hex[:6]}"
    args = ("--providers", "fred,eia,noaa,worldbank", "--log-level", "WARNING")
    first = _runner(*args, **env)
    assert first.returncode == 0, first.stdout + first.stderr
    second = _runner(*args, **env)
    assert second.returncode == 0, second.stdout + second.stderr
    lines = {line.split(":", 1)[0]: line for line in second.stdout.splitlines() if ": " in line}
    for provider in ("fred", "eia", "noaa", "worldbank"):
        assert "rows 0 new, 0 changed" in lines[provider], lines[provider]
        assert "(sandbox" in lines[provider]


async def test_a_hand_run_is_recorded_and_its_window_counted(
    settings: Settings, database_url: str, redis_url: str
) -> None:
    """A windowed hand run checks its one series, and shows in `/runs` and health's last run
    as a manual run of `runner@<host>`."""
    tenant = f"hand{uuid.uuid4().hex[:6]}"
    result = _runner(
        "--providers", "fred", "--datasets", "DEXUSEU", "--start", "2024-09-23",
        "--end", "2024-09-23", "--log-level", "WARNING",
        AURUM_DATABASE_URL=database_url, AURUM_REDIS_URL=redis_url, AURUM_TENANT_ID=tenant,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fred: 1 series checked" in result.stdout, result.stdout
    viewer = bearer(settings, Role.VIEWER)
    async with client_for(settings) as client:
        runs = await client.get(
            "/v1/admin/external/runs", params={"job": "ingest.fred", "limit": 1}, headers=viewer
        )
        [run] = runs.json()["items"]
        health = (await client.get("/v1/admin/external/health/fred", headers=viewer)).json()
    assert run["trigger"] == "manual" and run["status"] == "succeeded", run
    assert run["replica_id"] == f"runner@{socket.gethostname()}"
    assert run["requests_used"] >= 1 and run["parameters"]["start"] == "2024-09-23"
    assert health["last_run"]["id"] == run["id"]
