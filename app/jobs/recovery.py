"""Runs whose replica is gone: marked `abandoned`, and a scheduled slot's run queued again.

Two rules find them, both applied by the leader (and by `monitor.staleness`):
- a run started under an older leader epoch that is still `running`: its leader lost the
  scheduler lock, so it died or stands down (a new leader applies this as soon as it is
  elected, before it schedules anything);
- a run whose heartbeat has been silent for `run_stale_after_seconds`, whatever started it
  (a run of `python -m app.runner`, or a run from before a leader recorded its epoch).

Marking is one conditional UPDATE per rule, so when two replicas notice the same run, one
marks it and queues its slot's re-run, and the other finds nothing: a slot runs again once.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import JobRun
from app.db.repositories import jobs as job_repo
from app.db.repositories import runs as run_repo
from app.monitoring.metrics import JOB_RUNS_ABANDONED

log = logging.getLogger(__name__)


async def abandon_dead_runs(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    leader_epoch: int | None,
    silent_seconds: float,
) -> list[JobRun]:
    """Mark the runs of dead replicas abandoned and queue their slots again; returns them."""
    async with sessionmaker() as session, session.begin():
        abandoned: list[JobRun] = []
        if leader_epoch is not None:
            abandoned += await run_repo.abandon_superseded(session, epoch=leader_epoch)
        abandoned += await run_repo.abandon_silent(session, silent_seconds=silent_seconds)
        if abandoned:
            paused = set(await job_repo.pauses(session))
        for run in abandoned:
            if run.slot is None or run.trigger != "scheduled":
                continue  # manual and backfill runs are the operator's to trigger again
            if run.job_id in paused:
                await run_repo.note_abandoned(session, run, "not re-run: the job is paused")
                continue
            await run_repo.queue_slot_rerun(session, run)
    for run in abandoned:
        JOB_RUNS_ABANDONED.labels(run.job_id).inc()
        log.error(
            "run %s of %s %s", run.id, run.job_id, run.error_summary,
            extra={"run_id": str(run.id), "job": run.job_id, "replica": run.replica_id},
        )  # fmt: skip
    return abandoned
