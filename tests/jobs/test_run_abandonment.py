"""A leader SIGKILLed mid-run: the new leader marks its run abandoned when it is elected, well
within a minute, and the run's schedule slot runs again exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.auth.principal import Role
from app.embedded.ports import free_port
from app.sandbox.server import SandboxServer
from app.settings import ProviderMode, Settings
from tests.support.apps import client_for
from tests.support.auth import TEST_JWT_SECRET, bearer
from tests.support.replicas import kill, start_replica
from tests.support.scheduling import provider_file, sql, wait_for

JOB = "ingest.fred"
FAST = {  # the recovery's clocks, small enough for a test
    "leader_poll_seconds": 0.3,
    "scheduler_sync_seconds": 0.2,
    "run_heartbeat_seconds": 0.5,
    "run_stale_after_seconds": 3.0,
}


def _slow_fred_every_minute(sandbox: SandboxServer) -> Any:
    def edit(data: dict[str, Any]) -> None:
        for name, section in data["providers"].items():
            section["enabled"] = name == "fred"
        fred = data["providers"]["fred"]
        fred["base_url"] = sandbox.base_urls()["fred"]
        fred["schedule"]["ingest"] = "* * * * *"  # a new leader catches up this minute's slot
        fred["retry"] = {"attempts": 1, "base_delay_seconds": 0, "timeout_seconds": 10}

    return edit


@pytest.fixture
def slow_fred(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """FRED answering each request after a second: a run lasts long enough to be killed."""
    sandbox.control("DELETE", "faults")
    sandbox.control("POST", "faults", {"kind": "latency", "provider": "fred", "delay_seconds": 1.0})
    yield sandbox
    sandbox.control("DELETE", "faults")


async def _abandoned_count(client: Any) -> float:
    """aurum_job_runs_abandoned_total of the job in this process (other tests add to it)."""
    prefix = f'aurum_job_runs_abandoned_total{{job_id="{JOB}"}} '
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


def _slot_runs(database_url: str, slot: Any) -> list[tuple[Any, ...]]:
    return sql(
        database_url,
        "SELECT status, replica_id, error_summary FROM job_runs "
        "WHERE job_id = %s AND slot = %s ORDER BY created_at",
        JOB,
        slot,
    )


async def test_a_killed_leaders_run_is_abandoned_at_once_and_its_slot_runs_once_more(
    slow_fred: SandboxServer, settings: Settings, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    sql(database_url, "DELETE FROM job_runs WHERE job_id = %s", JOB)
    tenant = f"kill{uuid.uuid4().hex[:6]}"  # fresh checkpoints: the run fetches every series
    config = provider_file(tmp_path, _slow_fred_every_minute(slow_fred))
    key = "k" * 32
    leader = start_replica(
        free_port(),
        AURUM_DATABASE_URL=database_url, AURUM_REDIS_URL=redis_url,
        AURUM_REPLICA_ID="replica-1", AURUM_TENANT_ID=tenant, AURUM_JWT_SECRET=TEST_JWT_SECRET,
        AURUM_PROVIDER_CONFIG_PATH=str(config), AURUM_PROVIDER_MODE="live",
        AURUM_FRED_API_KEY=key, AURUM_ACCESS_LOG="false", AURUM_DATA_DIR=str(tmp_path / "data"),
        AURUM_SANDBOX_COLLECT_INTERVAL_SECONDS="0",
        **{f"AURUM_{name.upper()}": str(value) for name, value in FAST.items()},
    )  # fmt: skip
    try:
        follower = settings.model_copy(
            update={
                **FAST, "replica_id": "replica-2", "tenant_id": tenant, "scheduler_enabled": True,
                "provider_mode": ProviderMode.LIVE, "fred_api_key": SecretStr(key),
                "provider_config_path": config,
            }
        )  # fmt: skip
        async with client_for(follower) as client:
            abandoned_before = await _abandoned_count(client)
            [(run_id, slot)] = await wait_for(
                lambda: sql(
                    database_url,
                    "SELECT id, slot FROM job_runs WHERE job_id = %s AND status = 'running' "
                    "AND replica_id = 'replica-1' AND requests_used > 0",
                    JOB,
                ),
                timeout=30,
                what="the leader's run to have committed a batch",
            )
            kill(leader)  # SIGKILL mid-run
            killed = time.monotonic()
            slow_fred.control("DELETE", "faults")  # the re-run need not be slow
            abandoned = await wait_for(
                lambda: sql(
                    database_url,
                    "SELECT error_summary FROM job_runs WHERE id = %s AND status = 'abandoned'",
                    run_id,
                ),
                timeout=60,
                what="the killed leader's run to be abandoned",
            )
            to_abandoned = time.monotonic() - killed
            assert "replica-1 lost the scheduler lock" in abandoned[0][0]
            assert "queued again" in abandoned[0][0]
            [(requests,)] = sql(
                database_url, "SELECT requests_used FROM job_runs WHERE id = %s", run_id
            )
            assert requests > 0  # what it had done, as of its last heartbeat
            await wait_for(
                lambda: any(status == "succeeded" for status, *_ in _slot_runs(database_url, slot)),
                timeout=60,
                what="the slot's re-run to succeed",
            )
            to_rerun = time.monotonic() - killed
            await asyncio.sleep(1)  # a second sweep, or a catch-up, must not run it again
            runs = _slot_runs(database_url, slot)
            assert [(status, replica) for status, replica, _ in runs] == [
                ("abandoned", "replica-1"),
                ("succeeded", "replica-2"),
            ]
            operator = bearer(follower, Role.OPERATOR)
            listed = await client.get(
                "/v1/admin/external/runs", params={"job": JOB}, headers=operator
            )
            statuses = {run["id"]: run["status"] for run in listed.json()["items"]}
            assert statuses[str(run_id)] == "abandoned"
            assert await _abandoned_count(client) == abandoned_before + 1
    finally:
        kill(leader)
    assert to_abandoned < 60 and to_rerun < 60
    print(f"kill -> abandoned {to_abandoned:.2f}s, kill -> re-run succeeded {to_rerun:.2f}s")
