"""Queries on `validation_results`: claiming a run, finishing it, reading latest and history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models import Observation, ValidationResult

RUNNING = "running"
COMPLETED = "completed"
ERRORED = "errored"
# Scopes: the rows one ingest run wrote, or the provider's whole history.
RUN = "run"
FULL = "full"


async def claim(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    suite: str,
    trigger: str,
    run_id: uuid.UUID | None,
    row_count: int,
    scope: str = FULL,
) -> tuple[uuid.UUID, bool]:
    """Insert a `running` row for the provider and scope. Returns (its id, True), or (the id
    of the run of that scope already running, False): the partial unique index decides,
    across replicas."""
    new_id = uuid.uuid4()
    inserted = await session.execute(
        insert(ValidationResult)
        .values(
            id=new_id,
            tenant_id=tenant_id,
            provider=provider,
            suite=suite,
            trigger=trigger,
            run_id=run_id,
            row_count=row_count,
            scope=scope,
            status=RUNNING,
            evaluated=0,
            successful=0,
            unsuccessful=0,
            failed_expectations=[],
        )
        .on_conflict_do_nothing(
            index_elements=["tenant_id", "provider", "scope"],
            index_where=text("status = 'running'"),
        )
        .returning(col(ValidationResult.id))
    )
    if inserted.scalar_one_or_none() is not None:
        return new_id, True
    running = await session.execute(
        select(ValidationResult.id).where(
            col(ValidationResult.tenant_id) == tenant_id,
            col(ValidationResult.provider) == provider,
            col(ValidationResult.scope) == scope,
            col(ValidationResult.status) == RUNNING,
        )
    )
    existing = running.scalar_one_or_none()
    # The running run finished between the two statements: claim again.
    if existing is None:
        return await claim(
            session,
            tenant_id=tenant_id,
            provider=provider,
            suite=suite,
            trigger=trigger,
            run_id=run_id,
            row_count=row_count,
            scope=scope,
        )
    return existing, False


async def abandon_stale(
    session: AsyncSession, *, tenant_id: str, provider: str, scope: str, older_than: timedelta
) -> int:
    """Mark as errored a `running` row of `scope` older than `older_than`: its replica died
    mid-run, and it would otherwise block every later run of the scope for the provider."""
    cutoff = datetime.now(UTC) - older_than
    done = await session.execute(
        update(ValidationResult)
        .where(
            col(ValidationResult.tenant_id) == tenant_id,
            col(ValidationResult.provider) == provider,
            col(ValidationResult.scope) == scope,
            col(ValidationResult.status) == RUNNING,
            col(ValidationResult.started_at) < cutoff,
        )
        .values(
            status=ERRORED,
            error="abandoned: still running past the limit (its replica stopped)",
            finished_at=func.now(),
        )
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


async def finish(session: AsyncSession, result_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(ValidationResult)
        .where(col(ValidationResult.id) == result_id)
        .values(**values, finished_at=func.now())
    )


async def get(session: AsyncSession, result_id: uuid.UUID) -> ValidationResult | None:
    return await session.get(ValidationResult, result_id)


async def history(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    limit: int,
    before: datetime | None = None,
) -> list[ValidationResult]:
    """Newest first; `before` pages on (exclusive) start time."""
    query = select(ValidationResult).where(
        col(ValidationResult.tenant_id) == tenant_id, col(ValidationResult.provider) == provider
    )
    if before is not None:
        query = query.where(col(ValidationResult.started_at) < before)
    query = query.order_by(col(ValidationResult.started_at).desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def latest_finished(
    session: AsyncSession, *, tenant_id: str, provider: str, scope: str | None = None
) -> ValidationResult | None:
    """The last completed run, of any scope unless `scope` names one."""
    query = select(ValidationResult).where(
        col(ValidationResult.tenant_id) == tenant_id,
        col(ValidationResult.provider) == provider,
        col(ValidationResult.status) == COMPLETED,
    )
    if scope is not None:
        query = query.where(col(ValidationResult.scope) == scope)
    query = query.order_by(col(ValidationResult.finished_at).desc()).limit(1)
    return (await session.execute(query)).scalars().first()


async def previous_row_count(session: AsyncSession, *, tenant_id: str, provider: str) -> int | None:
    """Row count at the start of the last completed full-history run (the baseline of the
    change bound; a run-scope row count is the rows of one ingest run)."""
    last = await latest_finished(session, tenant_id=tenant_id, provider=provider, scope=FULL)
    return None if last is None else last.row_count


async def observation_count(session: AsyncSession, *, tenant_id: str, provider: str) -> int:
    query = select(func.count()).where(
        col(Observation.tenant_id) == tenant_id, col(Observation.provider) == provider
    )
    return int((await session.execute(query)).scalar_one())


async def run_row_count(
    session: AsyncSession, *, tenant_id: str, provider: str, run_id: uuid.UUID
) -> int:
    """Rows an ingest run wrote (new or changed: the upsert stamps those with its id)."""
    query = select(func.count()).where(
        col(Observation.run_id) == run_id,
        col(Observation.tenant_id) == tenant_id,
        col(Observation.provider) == provider,
    )
    return int((await session.execute(query)).scalar_one())
