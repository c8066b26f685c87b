"""The reads an outage's timeline and its completeness check need: the provider's runs and
audit rows within the outage window, and the outages whose completeness is still to check.
Every read is bounded: a caller asks for `limit` and learns whether there were more."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db.models import (
    AuditLog,
    JobRun,
    Observation,
    OutageEvent,
    OutageStatus,
    ProviderOutage,
    RunStatus,
)

# The runs a timeline shows: what went wrong or did not happen while the provider was out.
NOTABLE_RUN_STATUSES = (
    RunStatus.FAILED,
    RunStatus.SKIPPED,
    RunStatus.CANCELLED,
    RunStatus.ABANDONED,
)


async def notable_runs(
    session: AsyncSession, provider: str, start: datetime, end: datetime, *, limit: int
) -> Sequence[JobRun]:
    """The provider's failed, skipped, cancelled and abandoned runs that overlap the window,
    oldest first; at most `limit` + 1 (one more tells the caller it was cut)."""
    query = (
        select(JobRun)
        .where(
            col(JobRun.provider) == provider,
            col(JobRun.status).in_(NOTABLE_RUN_STATUSES),
            col(JobRun.created_at) <= end,
            func.coalesce(col(JobRun.finished_at), col(JobRun.created_at)) >= start,
        )
        .order_by(col(JobRun.created_at), col(JobRun.id))
        .limit(limit + 1)
    )
    return (await session.execute(query)).scalars().all()


async def run(session: AsyncSession, run_id: uuid.UUID) -> JobRun | None:
    return await session.get(JobRun, run_id)


# Flags every outage turns on: shared by the providers, so only their changes while this
# outage was open belong to its timeline (before it, they are another outage's).
SHARED_TARGETS = ("flag:external_read_cache", "flag:provider_fallback", "flag:provider_enabled")


def audit_targets(provider: str, outage_id: uuid.UUID) -> list[str]:
    """Audit targets of this provider's outage alone: the outage, the provider (breaker,
    quota, rate and budget changes) and its jobs."""
    return [
        f"outage:{outage_id}",
        f"provider:{provider}",
        f"job:ingest.{provider}",
        f"job:ingest.{provider}.bulk",
        f"job:probe.{provider}",
    ]


async def audit_rows(
    session: AsyncSession,
    provider: str,
    outage_id: uuid.UUID,
    start: datetime,
    end: datetime,
    *,
    limit: int,
    shared_from: datetime | None = None,
) -> Sequence[AuditLog]:
    """Audit rows of the window about the provider, its jobs, a backfill that names it, or
    (from `shared_from` on) the flags outages share; oldest first, at most `limit` + 1."""
    query = (
        select(AuditLog)
        .where(
            col(AuditLog.occurred_at) >= start,
            col(AuditLog.occurred_at) <= end,
            or_(
                col(AuditLog.target).in_(audit_targets(provider, outage_id)),
                and_(
                    col(AuditLog.target).in_(SHARED_TARGETS),
                    col(AuditLog.occurred_at) >= (shared_from or start),
                ),
                and_(
                    col(AuditLog.target) == "backfill",
                    col(AuditLog.after)["providers"].has_key(provider),
                ),
            ),
        )
        .order_by(col(AuditLog.occurred_at), col(AuditLog.id))
        .limit(limit + 1)
    )
    return (await session.execute(query)).scalars().all()


async def awaiting_completeness(
    session: AsyncSession, *, limit: int = 10
) -> Sequence[ProviderOutage]:
    """Resolved outages whose backfill run succeeded and whose completeness is not checked
    (SQL NULL or a JSON null): one small query, answered from a handful of rows."""
    query = (
        select(ProviderOutage)
        .join(JobRun, col(JobRun.id) == col(ProviderOutage.backfill_run_id))
        .where(
            col(ProviderOutage.status) == OutageStatus.RESOLVED,
            func.jsonb_typeof(col(ProviderOutage.completeness)).is_distinct_from("object"),
            col(JobRun.status) == RunStatus.SUCCEEDED,
        )
        .order_by(col(ProviderOutage.resolved_at))
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def stored_values(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    series_id: str,
    start: date,
    end: date,
) -> dict[date, float | None]:
    """The stored (latest) value of each observation of one series in [start, end]."""
    query = select(col(Observation.obs_date), col(Observation.value)).where(
        col(Observation.tenant_id) == tenant_id,
        col(Observation.provider) == provider,
        col(Observation.series_id) == series_id,
        col(Observation.obs_date) >= start,
        col(Observation.obs_date) <= end,
    )
    return {day: value for day, value in (await session.execute(query)).all()}


async def get_for_update(session: AsyncSession, outage_id: uuid.UUID) -> ProviderOutage | None:
    query = (
        select(ProviderOutage)
        .where(col(ProviderOutage.id) == outage_id)
        .with_for_update(key_share=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def events(
    session: AsyncSession, outage_id: uuid.UUID, *, limit: int
) -> Sequence[OutageEvent]:
    """An outage's events, oldest first; at most `limit` + 1."""
    query = (
        select(OutageEvent)
        .where(col(OutageEvent.outage_id) == outage_id)
        .order_by(col(OutageEvent.at), col(OutageEvent.id))
        .limit(limit + 1)
    )
    return (await session.execute(query)).scalars().all()


async def count_events(session: AsyncSession, outage_id: uuid.UUID, *, kind: str) -> int:
    query = select(func.count()).where(
        col(OutageEvent.outage_id) == outage_id, col(OutageEvent.kind) == kind
    )
    return int(await session.scalar(query) or 0)
