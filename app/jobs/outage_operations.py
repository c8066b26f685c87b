"""The outage service's ports (app/outages/ports.py) over job control, the probe and the
backfill service, so an outage pauses, probes and backfills exactly as the jobs, breaker and
backfill endpoints do."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import AuditContext
from app.jobs import backfill, control
from app.jobs.probing import OPERATOR_PROBE_SECONDS, probe_provider
from app.jobs.scheduler import JobScheduler
from app.outages.context import OutageDeps
from app.resources import Resources


class JobOutageOperations:
    def __init__(self, resources: Resources, scheduler: JobScheduler) -> None:
        self._resources = resources
        self._scheduler = scheduler

    def provider_jobs(self, provider: str) -> list[str]:
        definitions = self._scheduler.definitions()
        wanted = (f"ingest.{provider}", f"ingest.{provider}.bulk", f"probe.{provider}")
        return [job_id for job_id in wanted if job_id in definitions]

    async def pause_job(
        self, session: AsyncSession, audit: AuditContext, job_id: str, *, reason: str
    ) -> dict[str, Any]:
        return await control.pause(
            session, audit, self._scheduler, job_id, reason=reason, ttl_seconds=None
        )

    async def resume_job(
        self, session: AsyncSession, audit: AuditContext, job_id: str, *, reason: str
    ) -> dict[str, Any]:
        return await control.resume(session, audit, self._scheduler, job_id, reason=reason)

    async def probe(self, provider: str) -> dict[str, Any]:
        return await probe_provider(
            self._resources, self._scheduler.targets, provider,
            timeout_seconds=OPERATOR_PROBE_SECONDS,
        )  # fmt: skip

    async def queue_backfill(
        self,
        session: AsyncSession,
        audit: AuditContext,
        provider: str,
        *,
        start: date,
        end: date,
        reason: str,
    ) -> uuid.UUID:
        resources = self._resources
        config = resources.providers.config
        body = backfill.BackfillRequest(
            providers=[backfill.BackfillProvider(name=provider)], start=start, end=end,
            reason=reason,
        )  # fmt: skip
        chosen = backfill.validate(body, config, resources.settings.backfill_max_days)
        estimates = await backfill.estimate(
            session, resources.providers.guards, config, chosen, start, end
        )
        backfill.refuse_if_over(estimates, force=False)
        runs = await backfill.queue_runs(
            session, audit, self._scheduler, chosen=chosen, estimates=estimates,
            start=start, end=end, force=False, reason=reason,
        )  # fmt: skip
        run_id: uuid.UUID = runs[0]["id"]
        return run_id


def outage_deps(resources: Resources) -> OutageDeps:
    """The outage service's dependencies on this replica."""
    scheduler = resources.scheduler
    assert scheduler is not None  # set in the lifespan before anything serves
    return OutageDeps(
        ops=JobOutageOperations(resources, scheduler),
        guards=resources.providers.guards,
        config=resources.providers.config,
        backfill_max_days=resources.settings.backfill_max_days,
    )
