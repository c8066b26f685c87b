"""Reads of stored validation results for health and SLA (the validation feature owns the
writes; this module only reads `validation_results`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models.quality import ValidationResult

FINISHED = ("completed", "errored")


async def latest_per_provider(session: AsyncSession) -> dict[str, ValidationResult]:
    """The newest finished result of each provider."""
    query = (
        select(ValidationResult)
        .where(col(ValidationResult.status).in_(FINISHED))
        .ext(distinct_on(col(ValidationResult.provider)))
        .order_by(col(ValidationResult.provider), col(ValidationResult.started_at).desc())
    )
    return {r.provider: r for r in (await session.execute(query)).scalars()}


async def pass_counts(session: AsyncSession, *, since: datetime) -> dict[str, tuple[int, int]]:
    """Per provider: (completed runs that passed, completed runs) finished since `since`."""
    query = (
        select(
            col(ValidationResult.provider),
            func.count().filter(col(ValidationResult.success).is_(True)),
            func.count(),
        )
        .where(
            col(ValidationResult.status) == "completed",
            col(ValidationResult.finished_at) >= since,
        )
        .group_by(col(ValidationResult.provider))
    )
    return {p: (int(ok), int(n)) for p, ok, n in (await session.execute(query)).all()}
