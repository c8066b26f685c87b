"""Quality score of a validation run, and the latest one per provider for health and SLA."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories import validation_results
from app.quality.engine import ExpectationOutcome

# An error-severity expectation weighs three warnings: one broken range check costs the
# score more than a stale monthly series does.
SEVERITY_WEIGHTS = {"error": 3.0, "warning": 1.0}


def quality_score(results: Iterable[ExpectationOutcome]) -> float:
    """Weighted share of passed expectations, 0..1 (1.0 when nothing was evaluated)."""
    total = passed = 0.0
    for item in results:
        weight = SEVERITY_WEIGHTS.get(item.severity, SEVERITY_WEIGHTS["error"])
        total += weight
        passed += weight if item.success else 0.0
    return round(passed / total, 4) if total else 1.0


def error_failures(failed: Iterable[Any]) -> int:
    """Failed expectations that fail a validation run: error severity (the default when an
    expectation names none). A failed warning lowers the quality score but never fails the
    run. The one rule health's verdict and the SLA's validation pass rate both apply."""
    return sum(
        1
        for item in failed
        if isinstance(item, dict) and item.get("severity", "error") != "warning"
    )


def run_passed(failed: Iterable[Any]) -> bool:
    """A completed validation run passed: no error-severity expectation failed."""
    return error_failures(failed) == 0


def has_error_failures(failed: Iterable[dict[str, Any]]) -> bool:
    return not run_passed(failed)


@dataclass(frozen=True)
class ProviderQuality:
    """What health and SLA need from the last completed validation run of a provider."""

    provider: str
    result_id: str
    score: float
    success: bool
    has_error_failures: bool
    success_percent: float | None
    finished_at: datetime | None

    @property
    def degraded(self) -> bool:
        """An error-severity failure marks the provider degraded."""
        return self.has_error_failures


async def latest_quality(
    session: AsyncSession, provider: str, *, tenant_id: str = "default"
) -> ProviderQuality | None:
    """The last completed run's quality, or None when the provider was never validated."""
    last = await validation_results.latest_finished(session, tenant_id=tenant_id, provider=provider)
    if last is None:
        return None
    return ProviderQuality(
        provider=provider,
        result_id=str(last.id),
        score=last.quality_score if last.quality_score is not None else 0.0,
        success=bool(last.success),
        has_error_failures=has_error_failures(last.failed_expectations),
        success_percent=last.success_percent,
        finished_at=last.finished_at,
    )
