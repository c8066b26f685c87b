"""What the outage service needs from the layer above it (app/jobs implements it: see
app/jobs/outage_operations.py). Job control, the probe and the backfill live there because
they need the scheduler and the collectors."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import AuditContext


class OutageOperations(Protocol):
    def provider_jobs(self, provider: str) -> list[str]:
        """The provider's jobs an outage pauses, those that exist: `ingest.<p>`,
        `ingest.<p>.bulk`, `probe.<p>`."""
        ...

    async def pause_job(
        self, session: AsyncSession, audit: AuditContext, job_id: str, *, reason: str
    ) -> dict[str, Any]:
        """Pause in the caller's transaction, audited: {"changed", "pause"} as the jobs API."""
        ...

    async def resume_job(
        self, session: AsyncSession, audit: AuditContext, job_id: str, *, reason: str
    ) -> dict[str, Any]: ...

    async def probe(self, provider: str) -> dict[str, Any]:
        """Probe the provider now: {"outcome": succeeded|failed|refused|skipped, "error"...}."""
        ...

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
        """Queue a backfill of every configured series, checked against quota and budget
        like any backfill: the run's id, or an AurumError saying why it was refused."""
        ...
