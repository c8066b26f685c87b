"""The embedded scheduler: APScheduler 3 on the leader only, steered through PostgreSQL.

APScheduler 3 cannot share a job store between processes, so it runs (with an in-memory
store) only on the replica that wins the leader election. Every other replica writes its
intent to PostgreSQL (pauses in `job_pauses`, manual and backfill runs as `queued` rows,
cancellations as `cancel_requested`), and the leader applies it within
`scheduler_sync_seconds`. Because that state lives in PostgreSQL, it survives restarts and
leader changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.audit.service import AuditContext, record
from app.auth.principal import SYSTEM
from app.db.models import JobRun
from app.db.repositories import jobs as job_repo
from app.db.repositories import runs as run_repo
from app.jobs.definitions import JobDefinition, job_definitions
from app.jobs.executor import RunExecutor
from app.jobs.leader import LeaderElection
from app.jobs.recovery import abandon_dead_runs
from app.jobs.targets import ProviderTargets
from app.jobs.triggers import latest_slot
from app.messaging.outbox_relay import OutboxRelay
from app.messaging.producer import producer_config
from app.monitoring.metrics import JOB_AUTO_PAUSED
from app.resources import Resources

log = logging.getLogger(__name__)


class JobScheduler:
    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        settings = resources.settings
        self.targets = ProviderTargets(resources)
        self.election = LeaderElection(
            resources.dependencies.database_url,
            replica_id=settings.replica_id,
            tenant_id=settings.tenant_id,
            poll_seconds=settings.leader_poll_seconds,
            keepalive_seconds=settings.leader_keepalive_seconds,
            on_elected=self._lead,
            on_deposed=self._stand_down,
        )
        self._scheduler: AsyncIOScheduler | None = None
        self._executor: RunExecutor | None = None
        self._relay: OutboxRelay | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._scheduled: dict[str, str] = {}  # job id → schedule now in APScheduler
        self._paused: set[str] = set()
        self.started = False

    def definitions(self) -> dict[str, JobDefinition]:
        return job_definitions(
            self._resources.providers.config,
            sandbox_providers=self.targets.sandboxed(),
            sandbox_interval_seconds=self._resources.settings.sandbox_collect_interval_seconds,
        )

    @property
    def is_leader(self) -> bool:
        return self.election.is_leader

    def next_run_time(self, job_id: str) -> datetime | None:
        """From the live scheduler on the leader; None elsewhere (callers compute it)."""
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(job_id)
        return job.next_run_time if job is not None else None

    def start(self) -> None:
        self.started = True
        self.election.start()

    async def stop(self) -> None:
        """Graceful: stop taking runs, let running ones reach a batch boundary (bounded by
        `shutdown_grace_seconds`), release leadership, close what the leader opened."""
        if self.started:
            await self.election.stop()
        await self.targets.aclose()

    async def _lead(self) -> None:
        settings = self._resources.settings
        await self.targets.prepare()
        self._relay = OutboxRelay(
            self._resources.sessionmaker,
            producer_config(self._resources.dependencies.kafka_bootstrap_servers),
        )
        self._executor = RunExecutor(
            self._resources, self.targets, self.definitions, self._relay,
            epoch=self.election.epoch,
        )  # fmt: skip
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "misfire_grace_time": settings.scheduler_misfire_grace_seconds,
                "coalesce": True,
                "max_instances": 1,
            },
        )
        self._scheduled, self._paused = {}, set()
        self._scheduler.start()
        await self._sync_once()
        self._sync_task = asyncio.get_running_loop().create_task(self._sync_forever())

    async def _stand_down(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
            self._sync_task = None
        # Pause first: APScheduler's shutdown cancels running jobs at once, which would cut
        # them mid-batch; draining lets them stop at a batch boundary.
        if self._scheduler is not None:
            self._scheduler.pause()
        if self._executor is not None:
            await self._executor.drain(self._resources.settings.shutdown_grace_seconds)
            self._executor = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._relay is not None:
            await self._relay.close()
            self._relay = None

    async def _sync_forever(self) -> None:
        every = self._resources.settings.scheduler_sync_seconds
        while True:
            await asyncio.sleep(every)
            try:
                await self._sync_once()
            except Exception:  # a database blip must not stop the leader's loop
                log.exception("scheduler sync failed")

    async def _sync_once(self) -> None:
        definitions = self.definitions()
        self._apply_definitions(definitions)
        async with self._resources.sessionmaker() as session, session.begin():
            await self._expire_pauses(session)
            pauses = await job_repo.pauses(session)
        self._apply_pauses(set(pauses) & set(definitions))
        await self._apply_cancellations()
        await self._abandon_dead_runs()
        await self._claim_queued()

    async def _abandon_dead_runs(self) -> None:
        """The runs a previous leader left running (an older epoch: right at election, this
        first sync) and silent runs of other replicas: abandoned, and their slots queued
        again, which `_claim_queued` then starts. A caught-up slot that fired first found the
        dead run's slot taken and skipped it, so the slot still runs once."""
        await abandon_dead_runs(
            self._resources.sessionmaker,
            leader_epoch=self.election.epoch,
            silent_seconds=self._resources.settings.run_stale_after_seconds,
        )

    def _apply_definitions(self, definitions: dict[str, JobDefinition]) -> None:
        scheduler = self._scheduler
        assert scheduler is not None
        for job_id in set(self._scheduled) - set(definitions):
            with contextlib.suppress(JobLookupError):
                scheduler.remove_job(job_id)
            self._scheduled.pop(job_id, None)
            self._paused.discard(job_id)
        assert self._executor is not None
        now = datetime.now(UTC)
        grace = timedelta(seconds=self._resources.settings.scheduler_misfire_grace_seconds)
        for job_id, definition in definitions.items():
            if self._scheduled.get(job_id) == definition.schedule:
                continue
            trigger = definition.trigger
            first = trigger.get_next_fire_time(None, now)
            if definition.run_at_start:
                first = now
            elif definition.records_runs:
                # Take over a slot the previous leader may have missed (the run's unique slot
                # makes this a no-op when it did run).
                first = latest_slot(trigger, now, lookback=grace) or first
            scheduler.add_job(
                self._executor.scheduled, trigger, args=[job_id], id=job_id, name=job_id,
                replace_existing=True, next_run_time=first,
            )  # fmt: skip
            self._scheduled[job_id] = definition.schedule
            self._paused.discard(job_id)

    def _apply_pauses(self, paused: set[str]) -> None:
        scheduler = self._scheduler
        assert scheduler is not None
        for job_id in paused - self._paused:
            with contextlib.suppress(JobLookupError):
                scheduler.pause_job(job_id)
        for job_id in self._paused - paused:
            with contextlib.suppress(JobLookupError):
                scheduler.resume_job(job_id)
        self._paused = paused

    async def _expire_pauses(self, session: AsyncSession) -> None:
        for pause in await job_repo.expired_pauses(session, datetime.now(UTC)):
            await job_repo.remove_pause(session, pause.job_id)
            await record(
                session, AuditContext(principal=SYSTEM), action="job.resume",
                target=f"job:{pause.job_id}",
                before={"paused_by": pause.paused_by, "reason": pause.reason, "until": pause.until},
                after=None, reason="pause expired",
            )  # fmt: skip
            JOB_AUTO_PAUSED.labels(pause.job_id).set(0)

    async def _apply_cancellations(self) -> None:
        executor = self._executor
        if executor is None or not executor.running:
            return
        async with self._resources.sessionmaker() as session:
            query = select(col(JobRun.id)).where(
                col(JobRun.id).in_(list(executor.running)), col(JobRun.cancel_requested)
            )
            cancelled = list((await session.execute(query)).scalars())
        for run_id in cancelled:
            executor.request_stop(run_id, "cancelled by an operator")

    async def _claim_queued(self) -> None:
        executor = self._executor
        claimed: set[str] = set()  # started below, not yet in executor.running
        while executor is not None and executor.accepting:
            async with self._resources.sessionmaker() as session, session.begin():
                run = await run_repo.claim_queued(
                    session, replica=self._resources.settings.replica_id,
                    epoch=self.election.epoch, busy_jobs=executor.busy_jobs() | claimed,
                )  # fmt: skip
            if run is None:
                return
            claimed.add(run.job_id)
            executor.start_claimed(run)
