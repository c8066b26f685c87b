"""Reads of stored validation results for the SLA (the validation feature owns the writes;
this module only reads `validation_results`; the health view's latest result per provider is
part of app/db/repositories/health_reads.snapshot)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from app.db.models.quality import ValidationResult


async def completed_failures(
    session: AsyncSession, *, since: datetime, tenant_id: str
) -> list[tuple[str, list[Any]]]:
    """(provider, failed expectations) of every completed run finished since `since`; whether
    each passed is the quality package's rule (app/quality/scoring.run_passed)."""
    query = select(col(ValidationResult.provider), col(ValidationResult.failed_expectations)).where(
        col(ValidationResult.status) == "completed",
        col(ValidationResult.finished_at) >= since,
        col(ValidationResult.tenant_id) == tenant_id,
    )
    return [(p, list(f or [])) for p, f in (await session.execute(query)).all()]
