"""Scheduler test helpers: a provider file with test cadences, and reading who leads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import yaml

from app.db.engine import libpq_url
from app.providers.config import resolve_config_path


def provider_file(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The shipped provider file, changed by `edit`, written under tmp_path."""
    data = yaml.safe_load(resolve_config_path(Path("config/external_providers.yml")).read_text())
    # Quiet by default: no probe, collection or validation fires during a test unless it asks
    # (a new leader catches up a slot missed within the misfire grace: a test starting at
    # 06:05 would otherwise see FRED's 06:00 collection run).
    yearly = "0 0 1 1 *"
    data["jobs"] = {
        **data["jobs"], "probe": "every 1h", "staleness": "every 1h", "quality": yearly,
        "cost": yearly, "daily_report": yearly, "retention": yearly, "partitions": yearly,
    }  # fmt: skip
    for section in data["providers"].values():
        section["schedule"] = {kind: yearly for kind in section.get("schedule", {})}
    edit(data)
    path = tmp_path / f"providers-{time.monotonic_ns()}.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def sql(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def leader(database_url: str) -> str | None:
    rows = sql(
        database_url,
        "SELECT replica_id FROM scheduler_leader WHERE name = 'scheduler' "
        "AND heartbeat_at > now() - interval '3 seconds'",
    )
    return rows[0][0] if rows else None


async def wait_for(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def finished_run(client: Any, run_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """Poll `GET /runs/{id}` until the run leaves queued/running (30 s at most)."""
    run: dict[str, Any] = {}
    for _ in range(300):
        run = (await client.get(f"/v1/admin/external/runs/{run_id}", headers=headers)).json()
        if run["status"] not in {"queued", "running"}:
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {run}")
