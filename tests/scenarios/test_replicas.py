"""Three `serve` replicas on one data directory (the embedded default's servers shared, the
sandbox as the live providers, FRED collected every 15 s). The leader is SIGKILLed in the
middle of a scheduled run: the run is `abandoned` within a minute and its slot runs again,
once. Then a replica is SIGKILLed and the rest stopped with SIGTERM: the embedded servers
(PostgreSQL, Redis, and the Kafka broker where the default starts one) stop too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.harness.processes import processes_using, wait_until
from tests.scenarios.harness.providers import provider_file
from tests.scenarios.harness.sandbox import SandboxProcess
from tests.scenarios.harness.service import ReplicaSet, ServiceProcess, elapsed, live_env

JOB = "ingest.fred"
EVERY = "every 15s"
ABANDONED_WITHIN = 60.0
# FRED answers after 1.5 s (the fixture's fault) and a run makes at least four requests.
FRESH_RUN = 2.5


@pytest.fixture(scope="module")
def replicas(scenario_dir: Path, sandbox: SandboxProcess) -> Iterator[ReplicaSet]:
    config = provider_file(scenario_dir, sandbox.base_urls(), schedules={"fred": EVERY})
    # No Kafka setting: every embedded server is the default's, the ones that must stop.
    replica_set = ReplicaSet(
        scenario_dir / "data", 3, live_env(config, None), scenario_dir / "logs"
    )
    # Slow FRED answers: a scheduled run lasts several seconds, long enough to kill mid-way.
    sandbox.add_fault(kind="latency", provider="fred", delay_seconds=1.5)
    try:
        yield replica_set.start()
    finally:
        replica_set.close()
        sandbox.clear_faults()


def _slot(run: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(run["slot"]))


def test_leader_killed_mid_run(replicas: ReplicaSet, sandbox: SandboxProcess) -> None:
    def running_on_leader() -> tuple[ServiceProcess, dict[str, Any]] | None:
        """A scheduled run on the leader that started under FRESH_RUN seconds ago, so it is
        still mid-way when the kill lands even on a loaded machine (one that has nearly
        finished could succeed before the kill)."""
        leader = replicas.leader()
        now = datetime.now(UTC)
        for run in leader.api.runs(job=JOB, status="running"):
            started = datetime.fromisoformat(str(run["started_at"]))
            fresh = (now - started).total_seconds() < FRESH_RUN
            if run["trigger"] == "scheduled" and run["replica_id"] == leader.replica_id and fresh:
                return leader, run
        return None

    found = wait_until(
        running_on_leader, timeout=60, what="a fresh scheduled FRED run on the leader"
    )
    assert found is not None
    leader, run = found
    leader.kill()
    t_kill = time.monotonic()
    sandbox.clear_faults()  # the re-run need not be slow
    survivor = replicas.alive()[0]

    status = wait_until(
        lambda: (s := survivor.api.run(run["id"])["status"]) != "running" and s,
        timeout=ABANDONED_WITHIN,
        what=f"the interrupted run {run['id']} to leave 'running'",
    )
    assert status == "abandoned", survivor.api.run(run["id"])
    print(f"\ninterrupted run abandoned {elapsed(t_kill)}s after the leader was killed")

    slot = _slot(run)

    def reruns() -> list[dict[str, Any]]:
        return [
            r
            for r in survivor.api.runs(job=JOB)
            if r["id"] != run["id"] and r["slot"] and _slot(r) == slot
        ]

    wait_until(
        lambda: any(r["status"] == "succeeded" for r in reruns()),
        timeout=60,
        what=f"slot {slot.isoformat()} to run again and succeed",
    )
    # Several leader sync cycles later, still exactly one re-run of the slot.
    time.sleep(2)
    again = reruns()
    assert len(again) == 1, again
    assert again[0]["status"] == "succeeded", again


def test_replica_killed_rest_stopped_embedded_servers_stop(replicas: ReplicaSet) -> None:
    alive = replicas.alive()
    assert alive, "no replica left to stop"
    if len(alive) == len(replicas.replicas):  # the leader test did not kill one: kill one here
        alive[-1].kill()
        alive = alive[:-1]
    data_dir = replicas.replicas[0].data_dir
    servers = processes_using(data_dir, exclude={r.proc.pid for r in alive if r.proc})
    assert servers, "found no embedded server processes to watch"
    for replica in alive:
        assert replica.terminate(timeout=60) == 0, replica.proc.log_tail() if replica.proc else ""
    deadline = time.monotonic() + 30
    while (left := processes_using(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == {}, f"still running 30 s after the last replica stopped: {left}"
