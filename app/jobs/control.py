"""Job control as the API offers it: any replica records the intent in PostgreSQL, in the
request's transaction with its audit entry; the leader applies it (see scheduler.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import AuditContext, record
from app.db.models import JobPause, JobRun, RunStatus
from app.db.repositories import jobs as job_repo
from app.db.repositories import runs as run_repo
from app.errors import Conflict, NotFound
from app.jobs.definitions import JobDefinition, JobKind, canonical_job_id
from app.jobs.scheduler import JobScheduler
from app.jobs.triggers import next_fire
from app.monitoring.metrics import JOB_AUTO_PAUSED
from app.resilience import recovery

FINISHED = {
    RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.SKIPPED,
    RunStatus.ABANDONED,
}  # fmt: skip
COLLECTING = {JobKind.INGEST, JobKind.INGEST_BULK}


def definition_of(scheduler: JobScheduler, job_id: str) -> JobDefinition:
    job_id = canonical_job_id(job_id)
    definitions = scheduler.definitions()
    if job_id not in definitions:
        known = ", ".join(sorted(definitions))
        raise NotFound(f"No job {job_id!r}. Known jobs: {known}.")
    return definitions[job_id]


def pause_view(pause: JobPause | None) -> dict[str, Any] | None:
    if pause is None:
        return None
    return {
        "by": pause.paused_by,
        "reason": pause.reason,
        "since": pause.paused_at,
        "until": pause.until,
        "automatic": pause.automatic,
    }


def run_view(run: JobRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "job_id": run.job_id,
        "provider": run.provider,
        "trigger": run.trigger,
        "parameters": run.parameters,
        "status": run.status,
        "rows_new": run.rows_new,
        "rows_changed": run.rows_changed,
        "rows_rejected": run.rows_rejected,
        "requests_used": run.requests_used,
        "error_summary": run.error_summary,
        "replica_id": run.replica_id,
        "slot": run.slot,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "heartbeat_at": run.heartbeat_at,
        "duration_ms": run.duration_ms,
        "cancel_requested": run.cancel_requested,
        "progress": run.progress,
    }


async def list_jobs(session: AsyncSession, scheduler: JobScheduler) -> list[dict[str, Any]]:
    definitions = scheduler.definitions()
    pauses = await job_repo.pauses(session)
    last = await run_repo.last_per_job(session)
    now = datetime.now(UTC)
    jobs = []
    for job_id, definition in definitions.items():
        pause = pauses.get(job_id)
        next_run = None
        if pause is None:
            next_run = scheduler.next_run_time(job_id) or next_fire(definition.trigger, now)
        jobs.append(
            {
                "id": job_id,
                "kind": definition.kind.value,
                "provider": definition.provider,
                "description": definition.description,
                "schedule": definition.schedule,
                "records_runs": definition.records_runs,
                "next_run_at": next_run,
                "paused": pause is not None,
                "pause": pause_view(pause),
                "last_run": run_view(last[job_id]) if job_id in last else None,
            }
        )
    return jobs


async def pause(
    session: AsyncSession,
    audit: AuditContext,
    scheduler: JobScheduler,
    job_id: str,
    *,
    reason: str | None,
    ttl_seconds: int | None,
) -> dict[str, Any]:
    """Idempotent: pausing a paused job returns the existing pause and changes nothing."""
    job_id = canonical_job_id(job_id)
    definition_of(scheduler, job_id)
    existing = await job_repo.get_pause(session, job_id)
    if existing is not None:
        return {"job_id": job_id, "paused": True, "changed": False, "pause": pause_view(existing)}
    until = datetime.now(UTC) + timedelta(seconds=ttl_seconds) if ttl_seconds else None
    reason = reason or audit.reason
    created = await job_repo.add_pause(
        session, JobPause(job_id=job_id, paused_by=audit.principal.id, reason=reason, until=until)
    )
    await record(
        session, audit, action="job.pause", target=f"job:{job_id}",
        before=None, after=pause_view(created), reason=reason,
    )  # fmt: skip
    return {"job_id": job_id, "paused": True, "changed": True, "pause": pause_view(created)}


async def resume(
    session: AsyncSession,
    audit: AuditContext,
    scheduler: JobScheduler,
    job_id: str,
    *,
    reason: str | None,
) -> dict[str, Any]:
    job_id = canonical_job_id(job_id)
    definition = definition_of(scheduler, job_id)
    existing = await job_repo.get_pause(session, job_id, for_update=True)
    if existing is None:
        return {"job_id": job_id, "paused": False, "changed": False, "pause": None}
    await job_repo.remove_pause(session, job_id)
    if definition.provider is not None and definition.kind in COLLECTING:
        # Collection resumes after an outage: its next run re-reads revision windows.
        why = f"{job_id} resumed by {audit.principal.id}"
        await recovery.mark(session, definition.provider, why)
    await record(
        session, audit, action="job.resume", target=f"job:{job_id}",
        before=pause_view(existing), after=None, reason=reason,
    )  # fmt: skip
    JOB_AUTO_PAUSED.labels(job_id).set(0)
    return {"job_id": job_id, "paused": False, "changed": True, "pause": None}


async def queue_run(
    session: AsyncSession,
    definition: JobDefinition,
    *,
    trigger: str,
    parameters: dict[str, Any],
    progress: dict[str, Any] | None = None,
) -> JobRun:
    """A queued run for the leader to claim; the caller audits."""
    return await run_repo.add(
        session,
        JobRun(
            job_id=definition.id,
            provider=definition.provider,
            trigger=trigger,
            parameters=parameters,
            status=RunStatus.QUEUED,
            progress=progress or {},
        ),
    )


async def trigger(
    session: AsyncSession,
    audit: AuditContext,
    scheduler: JobScheduler,
    job_id: str,
    *,
    parameters: dict[str, Any],
    force: bool,
    reason: str | None,
) -> JobRun:
    job_id = canonical_job_id(job_id)
    definition = definition_of(scheduler, job_id)
    if not definition.records_runs:
        raise Conflict(
            f"{job_id} runs every few seconds and keeps no run records; it cannot be triggered."
        )
    if not force and await job_repo.get_pause(session, job_id) is not None:
        raise Conflict(
            f'{job_id} is paused. Resume it first, or send "force": true to run it once anyway.'
        )
    run = await queue_run(session, definition, trigger="manual", parameters=parameters)
    await record(
        session, audit, action="job.trigger", target=f"job:{job_id}",
        after={"run_id": run.id, "parameters": parameters}, reason=reason,
    )  # fmt: skip
    return run


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> JobRun:
    run = await run_repo.get(session, run_id)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    return run


async def cancel_run(
    session: AsyncSession, audit: AuditContext, run_id: uuid.UUID, *, reason: str | None
) -> JobRun:
    """A queued run is cancelled at once; a running one stops at its next batch boundary."""
    run = await run_repo.get(session, run_id, for_update=True)
    if run is None:
        raise NotFound(f"No run {run_id}.")
    if run.status in FINISHED:
        raise Conflict(f"Run {run_id} already finished ({run.status}); nothing to cancel.")
    before = {"status": run.status}
    if run.status == RunStatus.QUEUED:
        run.status = RunStatus.CANCELLED
        run.finished_at = datetime.now(UTC)
        run.error_summary = "cancelled by an operator before it started"
    run.cancel_requested = True
    session.add(run)
    await session.flush()
    await record(
        session, audit, action="run.cancel", target=f"run:{run_id}",
        before=before, after={"status": run.status, "cancel_requested": True}, reason=reason,
    )  # fmt: skip
    return run
