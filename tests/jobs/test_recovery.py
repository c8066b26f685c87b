"""Abandoning the runs of dead replicas: a run noticed by two sweeps at once is abandoned once,
and its slot queued again once."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import create_async_engine

from app.db.engine import build_sessionmaker
from app.jobs.recovery import abandon_dead_runs
from tests.support.scheduling import sql


async def test_a_silent_run_is_abandoned_once_when_two_sweeps_notice_it(
    database_url: str,
) -> None:
    slot = "2026-01-01T06:00:00+00:00"
    sql(database_url, "DELETE FROM job_runs WHERE job_id = 'monitor.cost'")
    [(run_id,)] = sql(
        database_url,
        "INSERT INTO job_runs (id, job_id, trigger, status, slot, replica_id, leader_epoch, "
        "started_at, heartbeat_at) VALUES (gen_random_uuid(), 'monitor.cost', 'scheduled', "
        "'running', %s, 'runner@gone', NULL, now() - interval '1 minute', "
        "now() - interval '10 seconds') RETURNING id",
        slot,
    )
    engine = create_async_engine(database_url)
    try:
        sessionmaker = build_sessionmaker(engine)
        sweeps = await asyncio.gather(
            *(
                abandon_dead_runs(sessionmaker, leader_epoch=None, silent_seconds=5)
                for _ in range(2)
            )
        )
    finally:
        await engine.dispose()
    assert sorted(len(found) for found in sweeps) == [0, 1]
    rows = sql(
        database_url,
        "SELECT id, status, trigger, error_summary FROM job_runs "
        "WHERE job_id = 'monitor.cost' AND slot = %s ORDER BY created_at",
        slot,
    )
    assert [(status, trigger) for _, status, trigger, _ in rows] == [
        ("abandoned", "scheduled"),
        ("queued", "scheduled"),
    ]
    assert rows[0][0] == run_id and "no heartbeat for 5s" in rows[0][3]
    sql(database_url, "DELETE FROM job_runs WHERE job_id = 'monitor.cost'")
