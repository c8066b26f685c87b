"""The job wrapper: one run record per run, a heartbeat while it runs, metrics, auto-pause.

Only the leader executes. Scheduled runs claim their schedule slot (a unique index), so a slot
served by a previous leader is not served again; manual and backfill runs are queued rows the
leader claims with SKIP LOCKED.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import AuditContext, record
from app.auth.principal import SYSTEM
from app.db.models import JobPause, JobRun, RunStatus
from app.db.repositories import jobs as job_repo
from app.db.repositories import runs as run_repo
from app.jobs import collection_tasks, monitor_tasks, outage_tasks, storage_tasks
from app.jobs.context import RunContext, RunCounters, RunStopped
from app.jobs.definitions import JobDefinition, JobKind
from app.jobs.run_records import keep_alive, record_outcome
from app.jobs.targets import ProviderTargets
from app.jobs.triggers import latest_slot
from app.messaging.outbox_relay import OutboxRelay
from app.monitoring.metrics import (
    JOB_AUTO_PAUSED,
    JOB_CONSECUTIVE_FAILURES,
    JOB_LAST_SUCCESS,
    JOB_RUN_DURATION,
    JOB_RUNS,
)
from app.resources import Resources

log = logging.getLogger(__name__)

Task = Callable[[RunContext], Awaitable[RunCounters]]
TASKS: dict[JobKind, Task] = {
    JobKind.INGEST: collection_tasks.ingest,
    JobKind.INGEST_BULK: collection_tasks.ingest_bulk,
    JobKind.PROBE: collection_tasks.probe,
    JobKind.OUTBOX_RELAY: collection_tasks.relay,
    JobKind.STALENESS: monitor_tasks.staleness,
    JobKind.QUALITY: monitor_tasks.full_history,
    JobKind.COST: monitor_tasks.cost,
    JobKind.DAILY_REPORT: monitor_tasks.daily_report,
    JobKind.RETENTION: monitor_tasks.retention,
    JobKind.PARTITIONS: storage_tasks.partitions,
    JobKind.OUTAGE_COMPLETENESS: outage_tasks.outage_completeness,
    JobKind.OUTAGE_EXPIRY: monitor_tasks.outage_expiry,
}
SUMMARY_LIMIT = 2000


class RunExecutor:
    def __init__(
        self,
        resources: Resources,
        targets: ProviderTargets,
        definitions: Callable[[], dict[str, JobDefinition]],
        relay: OutboxRelay | None,
        *,
        epoch: int | None,
    ) -> None:
        self._resources = resources
        self._epoch = epoch  # the leader epoch this executor runs under
        self._targets = targets
        self._definitions = definitions
        self._relay = relay
        self._replica = resources.settings.replica_id
        self.running: dict[uuid.UUID, tuple[RunContext, asyncio.Task[Any]]] = {}
        self._unrecorded: dict[str, asyncio.Task[Any]] = {}
        self.accepting = True

    def busy_jobs(self) -> set[str]:
        return {ctx.definition.id for ctx, _ in self.running.values()}

    async def scheduled(self, job_id: str) -> None:
        """What APScheduler calls at each fire time."""
        definition = self._definitions().get(job_id)
        if definition is None or not self.accepting:
            return
        if not definition.records_runs:
            current = asyncio.current_task()
            if current is not None:
                self._unrecorded[job_id] = current
            try:
                await TASKS[definition.kind](self._context(definition, None, "scheduled", {}))
            finally:
                self._unrecorded.pop(job_id, None)
            return
        now = datetime.now(UTC)
        grace = timedelta(seconds=self._resources.settings.scheduler_misfire_grace_seconds)
        slot = latest_slot(definition.trigger, now + timedelta(seconds=1), lookback=grace)
        if slot is None:
            return
        busy = job_id in self.busy_jobs()
        async with self._resources.sessionmaker() as session, session.begin():
            run_id = await run_repo.start_scheduled(
                session, job_id=job_id, provider=definition.provider, slot=slot,
                replica=self._replica, epoch=self._epoch,
            )  # fmt: skip
            if run_id is not None and busy:
                await run_repo.finish(
                    session, run_id, status=RunStatus.SKIPPED,
                    error_summary="the job's previous run was still running",
                )  # fmt: skip
        if run_id is None:
            log.info("slot %s of %s already ran", slot.isoformat(), job_id)
            return
        if busy:
            JOB_RUNS.labels(job_id, RunStatus.SKIPPED.value).inc()
            return
        await self._guarded(self._execute(run_id, definition, "scheduled", {}))

    def start_claimed(self, run: JobRun) -> None:
        """Run a queued (manual or backfill) run this leader just claimed."""
        definition = self._definitions().get(run.job_id)
        task = asyncio.get_running_loop().create_task(
            self._guarded(self._execute(run.id, definition, run.trigger, dict(run.parameters)))
        )
        task.add_done_callback(lambda _: self.running.pop(run.id, None))

    def request_stop(self, run_id: uuid.UUID, reason: str) -> None:
        entry = self.running.get(run_id)
        if entry is not None:
            entry[0].request_stop(reason)

    async def drain(self, grace_seconds: float) -> None:
        """Stop taking runs; let running ones reach a batch boundary within the grace period,
        then cancel what remains (its open batch rolls back; the checkpoint did not move)."""
        self.accepting = False
        for ctx, _ in list(self.running.values()):
            ctx.request_stop("stopped for shutdown at a batch boundary; the next run resumes")
        tasks = [task for _, task in self.running.values()] + list(self._unrecorded.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    @staticmethod
    async def _guarded(work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            log.exception("job wrapper failed")

    def _context(
        self,
        definition: JobDefinition,
        run_id: uuid.UUID | None,
        trigger: str,
        params: dict[str, Any],
    ) -> RunContext:
        return RunContext(
            resources=self._resources, targets=self._targets, definition=definition,
            run_id=run_id, trigger=trigger, parameters=params, relay=self._relay,
        )  # fmt: skip

    async def _execute(
        self,
        run_id: uuid.UUID,
        definition: JobDefinition | None,
        trigger: str,
        params: dict[str, Any],
    ) -> None:
        if definition is None:  # the job left the configuration after the run was queued
            async with self._resources.sessionmaker() as session, session.begin():
                await run_repo.finish(
                    session, run_id, status=RunStatus.SKIPPED,
                    error_summary="the job no longer exists in the configuration",
                )  # fmt: skip
            return
        ctx = self._context(definition, run_id, trigger, params)
        current = asyncio.current_task()
        assert current is not None
        self.running[run_id] = (ctx, current)
        beat = asyncio.get_running_loop().create_task(self._heartbeat(ctx))
        started = time.monotonic()
        status, error = RunStatus.SUCCEEDED, None
        try:
            await TASKS[definition.kind](ctx)
            if ctx.counters.skipped_reason:
                status, error = RunStatus.SKIPPED, ctx.counters.skipped_reason
        except RunStopped as stop:
            status, error = RunStatus.CANCELLED, str(stop)
        except asyncio.CancelledError:
            status, error = (
                RunStatus.CANCELLED,
                "interrupted by shutdown; its open batch rolled back",
            )
            raise
        except Exception as exc:
            status, error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:SUMMARY_LIMIT]
            log.warning("run %s of %s failed: %s", run_id, definition.id, error)
        finally:
            beat.cancel()
            self.running.pop(run_id, None)
            await asyncio.shield(self._finish(ctx, status, error, time.monotonic() - started))

    async def _finish(
        self, ctx: RunContext, status: RunStatus, error: str | None, seconds: float
    ) -> None:
        job_id = ctx.definition.id
        c = ctx.counters
        assert ctx.run_id is not None
        async with self._resources.sessionmaker() as session, session.begin():
            await record_outcome(session, ctx.run_id, status=status, error=error, counters=c)
            # Only scheduled runs count toward auto-pause: an operator triggering a job by hand
            # during an outage must not pause it behind their back.
            if status is RunStatus.FAILED and ctx.trigger == "scheduled":
                await self._maybe_auto_pause(session, job_id)
            elif status is RunStatus.SUCCEEDED and ctx.trigger == "scheduled":
                JOB_CONSECUTIVE_FAILURES.labels(job_id).set(0)
        JOB_RUNS.labels(job_id, status.value).inc()
        JOB_RUN_DURATION.labels(job_id).observe(seconds)
        if status is RunStatus.SUCCEEDED:
            JOB_LAST_SUCCESS.labels(job_id).set_to_current_time()
        log.info(
            "run of %s %s", job_id, status.value,
            extra={"run_id": str(ctx.run_id), "job": job_id, "status": status.value,
                   "seconds": round(seconds, 3), "rows_new": c.rows_new,
                   "rows_changed": c.rows_changed, "requests": c.requests_used},
        )  # fmt: skip

    async def _maybe_auto_pause(self, session: AsyncSession, job_id: str) -> None:
        limit = self._resources.settings.job_auto_pause_failures
        statuses = await run_repo.recent_scheduled_statuses(session, job_id, limit=limit)
        failures = 0
        for status in statuses:
            if status != RunStatus.FAILED:
                break
            failures += 1
        JOB_CONSECUTIVE_FAILURES.labels(job_id).set(failures)
        if failures < limit or await job_repo.get_pause(session, job_id) is not None:
            return
        reason = f"auto-paused after {failures} failed runs in a row"
        pause = await job_repo.add_pause(
            session, JobPause(job_id=job_id, paused_by=SYSTEM.id, reason=reason, automatic=True)
        )
        await record(
            session, AuditContext(principal=SYSTEM), action="job.auto_pause",
            target=f"job:{job_id}", after={"reason": reason, "paused_at": pause.paused_at},
            reason=reason,
        )  # fmt: skip
        JOB_AUTO_PAUSED.labels(job_id).set(1)
        log.error("%s %s", job_id, reason, extra={"job": job_id})

    async def _heartbeat(self, ctx: RunContext) -> None:
        assert ctx.run_id is not None
        await keep_alive(
            self._resources.sessionmaker, ctx.run_id, counters=ctx.counters,
            every=self._resources.settings.run_heartbeat_seconds, on_stop=ctx.request_stop,
        )  # fmt: skip
