"""Three replicas on one PostgreSQL and Redis: exactly one runs jobs; when it is killed
(SIGKILL, no goodbye) another leads within 15 s, and no schedule slot runs twice."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from app.embedded.ports import free_port
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import TEST_JWT_SECRET
from tests.support.replicas import kill, start_replica
from tests.support.scheduling import leader, provider_file, sql, wait_for

JOB = "monitor.staleness"


def _fast_monitor(data: dict[str, Any]) -> None:
    data["jobs"]["staleness"] = "every 1s"


@pytest.fixture
def replica_process(
    database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[subprocess.Popen[str]]:
    process = start_replica(
        free_port(),
        AURUM_DATABASE_URL=database_url,
        AURUM_REDIS_URL=redis_url,
        AURUM_REPLICA_ID="replica-1",
        AURUM_JWT_SECRET=TEST_JWT_SECRET,
        AURUM_PROVIDER_CONFIG_PATH=str(provider_file(tmp_path, _fast_monitor)),
        AURUM_LEADER_POLL_SECONDS="0.3",
        AURUM_SANDBOX_COLLECT_INTERVAL_SECONDS="0",
        AURUM_ACCESS_LOG="false",
        AURUM_DATA_DIR=str(tmp_path / "data"),
    )  # Kafka off (start_replica's default): a broker would republish the shared outbox
    yield process
    kill(process)


def _runs_by_replica(database_url: str) -> dict[str, int]:
    rows = sql(
        database_url,
        "SELECT replica_id, count(*) FROM job_runs WHERE job_id = %s GROUP BY 1",
        JOB,
    )
    return {replica: count for replica, count in rows}


async def test_one_leader_runs_jobs_and_a_follower_takes_over_within_15s(
    replica_process: subprocess.Popen[str],
    settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    sql(database_url, "DELETE FROM job_runs WHERE job_id = %s", JOB)
    await wait_for(lambda: leader(database_url) == "replica-1", timeout=20, what="replica-1 leads")
    config = provider_file(tmp_path, _fast_monitor)
    async with AsyncExitStack() as stack:
        for name in ("replica-2", "replica-3"):
            replica = settings.model_copy(
                update={
                    "replica_id": name,
                    "scheduler_enabled": True,
                    "leader_poll_seconds": 0.3,
                    "provider_config_path": config,
                }
            )
            await stack.enter_async_context(client_for(replica))
        await wait_for(
            lambda: _runs_by_replica(database_url).get("replica-1", 0) >= 3,
            timeout=20,
            what="the leader's runs",
        )
        assert set(_runs_by_replica(database_url)) == {"replica-1"}  # followers run nothing

        replica_process.kill()  # SIGKILL: its connection drops, the lock frees
        killed_at = time.monotonic()
        new = await wait_for(
            lambda: (
                (leader(database_url) or "") in {"replica-2", "replica-3"} and leader(database_url)
            ),
            timeout=15,
            what="a follower to lead",
        )
        assert time.monotonic() - killed_at < 15
        await wait_for(
            lambda: _runs_by_replica(database_url).get(new, 0) >= 3,
            timeout=20,
            what="the new leader's runs",
        )
        await asyncio.sleep(1)
    by_replica = _runs_by_replica(database_url)
    assert set(by_replica) == {"replica-1", new}  # the other follower never ran a job
    slots = sql(
        database_url,
        "SELECT count(*), count(DISTINCT slot) FROM job_runs WHERE job_id = %s "
        "AND status <> 'abandoned'",
        JOB,
    )[0]
    assert slots[0] == slots[1]  # no schedule slot ran twice (the killed leader's run of a
    # slot is abandoned, and that slot runs once more)
