"""Queries on `job_runs`: create, claim, heartbeat, finish, and filtered reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import JobRun, RunStatus
from app.db.models.runs import SLOT_HELD

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass(frozen=True)
class RunFilter:
    job_id: str | None = None
    provider: str | None = None
    status: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def add(session: AsyncSession, run: JobRun) -> JobRun:
    session.add(run)
    await session.flush()
    return run


async def start_scheduled(
    session: AsyncSession,
    *,
    job_id: str,
    provider: str | None,
    slot: datetime,
    replica: str,
    epoch: int | None,
) -> uuid.UUID | None:
    """Record a scheduled run for its slot; None when that slot already has a run (another
    leader served it, or its re-run is queued), so a slot never runs twice."""
    now = func.now()
    statement = (
        insert(JobRun)
        .values(
            id=uuid.uuid4(),
            job_id=job_id,
            provider=provider,
            trigger="scheduled",
            parameters={},
            status=RunStatus.RUNNING,
            slot=slot,
            replica_id=replica,
            leader_epoch=epoch,
            started_at=now,
            heartbeat_at=now,
            progress={},
        )
        .on_conflict_do_nothing(index_elements=["job_id", "slot"], index_where=text(SLOT_HELD))
        .returning(col(JobRun.id))
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def claim_queued(
    session: AsyncSession, *, replica: str, epoch: int | None, busy_jobs: set[str]
) -> JobRun | None:
    """The oldest queued run of a job that is not running here, marked running by `replica`."""
    query = select(JobRun).where(col(JobRun.status) == RunStatus.QUEUED)
    if busy_jobs:
        query = query.where(col(JobRun.job_id).not_in(busy_jobs))
    query = query.order_by(col(JobRun.created_at)).limit(1).with_for_update(skip_locked=True)
    run = (await session.execute(query)).scalar_one_or_none()
    if run is None:
        return None
    run.status = RunStatus.RUNNING
    run.replica_id = replica
    run.leader_epoch = epoch
    run.started_at = run.heartbeat_at = await session.scalar(select(func.now()))
    await session.flush()
    return run


async def get(
    session: AsyncSession, run_id: uuid.UUID, *, for_update: bool = False
) -> JobRun | None:
    query = select(JobRun).where(col(JobRun.id) == run_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def heartbeat(
    session: AsyncSession,
    run_id: uuid.UUID,
    *,
    progress: dict[str, Any] | None = None,
    counts: dict[str, int] | None = None,
) -> str | None:
    """Refresh a running run's heartbeat, progress and counters (`rows_new`, `requests_used`,
    ...: a run abandoned later keeps what it had done); why it must stop, if it must: an
    operator cancelled it, or it is no longer running (marked abandoned meanwhile)."""
    values: dict[str, Any] = {"heartbeat_at": func.now(), **(counts or {})}
    if progress is not None:
        values["progress"] = progress
    statement = (
        update(JobRun)
        .where(col(JobRun.id) == run_id, col(JobRun.status) == RunStatus.RUNNING)
        .values(**values)
        .returning(col(JobRun.cancel_requested))
    )
    cancel_requested = (await session.execute(statement)).scalar_one_or_none()
    if cancel_requested is None:
        status = await session.scalar(select(col(JobRun.status)).where(col(JobRun.id) == run_id))
        return f"its run record is {status or 'gone'}, no longer running"
    return "cancelled by an operator" if cancel_requested else None


def unfinished_datasets(progress: dict[str, Any]) -> list[str]:
    """The datasets of a run's progress that are not done (the SLA's per-dataset freshness
    counts a success only for the datasets it finished); its other keys are not datasets."""
    return sorted(
        key
        for key, entry in progress.items()
        if isinstance(entry, dict) and entry.get("status") != "done"
    )


async def finish(session: AsyncSession, run_id: uuid.UUID, **values: Any) -> None:
    """Record the outcome of a queued or running run. A run marked abandoned meanwhile keeps
    that status: its slot's re-run may already be running."""
    if "progress" in values:
        values["unfinished_datasets"] = unfinished_datasets(values["progress"] or {})
    statement = (
        update(JobRun)
        .where(col(JobRun.id) == run_id, col(JobRun.status).in_(ACTIVE))
        .values(
            finished_at=func.now(),
            duration_ms=func.floor(
                func.extract("epoch", func.now() - func.coalesce(JobRun.started_at, func.now()))
                * 1000
            ),
            **values,
        )
    )
    await session.execute(statement)


async def page(
    session: AsyncSession,
    filters: RunFilter,
    *,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[JobRun]:
    """Newest first; the cursor is (created_at, id) of the previous page's last run."""
    query = select(JobRun)
    if filters.job_id:
        query = query.where(col(JobRun.job_id) == filters.job_id)
    if filters.provider:
        query = query.where(col(JobRun.provider) == filters.provider)
    if filters.status:
        query = query.where(col(JobRun.status) == filters.status)
    if filters.trigger:
        query = query.where(col(JobRun.trigger) == filters.trigger)
    if filters.since:
        query = query.where(col(JobRun.created_at) >= filters.since)
    if filters.until:
        query = query.where(col(JobRun.created_at) < filters.until)
    if before is not None:
        created, run_id = before
        query = query.where(
            (col(JobRun.created_at) < created)
            | ((col(JobRun.created_at) == created) & (col(JobRun.id) < run_id))
        )
    query = query.order_by(col(JobRun.created_at).desc(), col(JobRun.id).desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def last_per_job(session: AsyncSession) -> dict[str, JobRun]:
    query = (
        select(JobRun)
        .ext(distinct_on(col(JobRun.job_id)))
        .order_by(col(JobRun.job_id), col(JobRun.created_at).desc())
    )
    return {run.job_id: run for run in (await session.execute(query)).scalars()}


async def recent_scheduled_statuses(session: AsyncSession, job_id: str, *, limit: int) -> list[str]:
    """Statuses of the job's latest finished scheduled runs, newest first (skipped and
    abandoned runs don't count, nor do manual and backfill runs)."""
    query = (
        select(col(JobRun.status))
        .where(
            col(JobRun.job_id) == job_id,
            col(JobRun.trigger) == "scheduled",
            col(JobRun.status).in_([RunStatus.SUCCEEDED, RunStatus.FAILED]),
        )
        .order_by(col(JobRun.created_at).desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def active(session: AsyncSession, *, job_id: str | None = None) -> list[JobRun]:
    query = select(JobRun).where(col(JobRun.status).in_(ACTIVE))
    if job_id:
        query = query.where(col(JobRun.job_id) == job_id)
    return list((await session.execute(query.order_by(col(JobRun.created_at)))).scalars())


async def start_manual(
    session: AsyncSession,
    *,
    job_id: str,
    provider: str | None,
    replica: str,
    parameters: dict[str, Any],
) -> uuid.UUID:
    """A manual run started at once by `replica` (not queued for the leader): `app.runner`."""
    now = await session.scalar(select(func.now()))
    run = JobRun(
        job_id=job_id, provider=provider, trigger="manual", parameters=parameters,
        status=RunStatus.RUNNING, replica_id=replica, started_at=now, heartbeat_at=now,
    )  # fmt: skip
    return (await add(session, run)).id


def _abandon(reason: Any, *conditions: Any) -> Any:
    return (
        update(JobRun)
        .where(col(JobRun.status) == RunStatus.RUNNING, *conditions)
        .values(status=RunStatus.ABANDONED, finished_at=func.now(), error_summary=reason)
        .returning(JobRun)
    )


async def abandon_superseded(session: AsyncSession, *, epoch: int) -> list[JobRun]:
    """Mark abandoned the runs an older scheduler leader left running; returns them. Two
    sessions doing this at once mark each run once (the second finds it no longer running)."""
    reason = func.concat(
        "abandoned: ", col(JobRun.replica_id), " lost the scheduler lock (leader epoch ",
        col(JobRun.leader_epoch), f"); the leader of epoch {epoch} took over",
    )  # fmt: skip
    statement = _abandon(reason, col(JobRun.leader_epoch) < epoch)
    return list((await session.execute(statement)).scalars())


async def abandon_silent(session: AsyncSession, *, silent_seconds: float) -> list[JobRun]:
    """Mark abandoned the running runs whose heartbeat stopped (their replica died)."""
    reason = f"abandoned: no heartbeat for {silent_seconds:g}s (its replica died)"
    cutoff = func.now() - timedelta(seconds=silent_seconds)
    statement = _abandon(reason, col(JobRun.heartbeat_at) < cutoff)
    return list((await session.execute(statement)).scalars())


async def queue_slot_rerun(session: AsyncSession, run: JobRun) -> uuid.UUID | None:
    """Queue the re-run of an abandoned scheduled run's slot, once: None when the slot was
    abandoned before (a run that keeps killing its replica is not re-run forever) or already
    has a live run. Says so in the abandoned run's error summary."""
    assert run.slot is not None
    earlier = await session.scalar(
        select(func.count()).where(
            col(JobRun.job_id) == run.job_id,
            col(JobRun.slot) == run.slot,
            col(JobRun.status) == RunStatus.ABANDONED,
            col(JobRun.id) != run.id,
        )
    )
    if earlier:
        await note_abandoned(session, run, "not re-run: this slot was abandoned before")
        return None
    values = dict(
        id=uuid.uuid4(), job_id=run.job_id, provider=run.provider, trigger="scheduled",
        parameters=run.parameters, status=RunStatus.QUEUED, slot=run.slot, progress={},
    )  # fmt: skip
    statement = (
        insert(JobRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["job_id", "slot"], index_where=text(SLOT_HELD))
        .returning(col(JobRun.id))
    )
    rerun = (await session.execute(statement)).scalar_one_or_none()
    if rerun is not None:
        await note_abandoned(session, run, f"its slot was queued again as run {rerun}")
    return rerun


async def note_abandoned(session: AsyncSession, run: JobRun, note: str) -> None:
    summary = f"{run.error_summary or 'abandoned'}; {note}"
    await session.execute(
        update(JobRun).where(col(JobRun.id) == run.id).values(error_summary=summary)
    )
    run.error_summary = summary
