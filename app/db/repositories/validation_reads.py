"""Reads of stored validation results for the SLA (the validation feature owns the writes;
this module only reads `validation_results`; the health view's latest result per provider is
part of app/db/repositories/health_reads.snapshot)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models.quality import ValidationResult


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
