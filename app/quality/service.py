"""Validation runs: claim (one per provider and scope at a time, across replicas), run Great
Expectations in a worker thread, store the result, set the quality metric.

Two scopes: `run` validates the rows one ingest run wrote (app.quality.run_rows), `full` the
provider's whole history in bounded chunks (app.quality.full_history). Each has its own claim,
so the hourly full-history job never makes an ingest's validation wait or skip.

Entry points: `run_validation` (scheduler: `quality.full_history`, and after each ingest run
with scope `run`) claims and runs to the end; the operator route claims a full-history run in
its request (so a second one gets 409 at once) and hands `execute` to a background task.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import async_url
from app.db.repositories import validation_results
from app.errors import Conflict, NotFound
from app.monitoring.metrics import (
    EXTERNAL_QUALITY_SCORE,
    EXTERNAL_VALIDATION_RUNS,
    EXTERNAL_VALIDATION_SECONDS,
)
from app.quality.full_history import validate_history
from app.quality.run_rows import ScopedOutcome, validate_run
from app.quality.scoring import quality_score
from app.quality.suites import RELATIVE_DATE, ProviderSuite, SuiteCatalog
from app.quality.threads import in_daemon_thread
from app.resources import Resources

log = logging.getLogger(__name__)

# A `running` row older than this belongs to a replica that died mid-run.
# A full-history run reads millions of rows chunk by chunk and may rightly run for hours.
STALE_RUN = {
    validation_results.RUN: timedelta(minutes=30),
    validation_results.FULL: timedelta(hours=6),
}
# Row-count change bounds against the last completed run: losing more than 10 % of the rows
# is an error; growth is bounded loosely (a backfill may add years of history).
ROW_COUNT_FLOOR_RATIO = 0.9
ROW_COUNT_CEILING_RATIO = 10
ROW_COUNT_CEILING_SLACK = 1_000_000


class ValidationRunning(Conflict):
    """A run of this provider and scope is already going; `details.running_id` names it."""


def suites_of(resources: Resources) -> SuiteCatalog:
    catalog = resources.quality
    if catalog is None:  # pragma: no cover - the lifespan always loads them
        raise RuntimeError("expectation suites were not loaded")
    return catalog


def provider_suite(catalog: SuiteCatalog, provider: str) -> ProviderSuite:
    if provider not in catalog.providers:
        raise NotFound(
            f"unknown provider {provider!r}; known providers: {', '.join(catalog.names)}",
            details={"known": catalog.names},
        )
    return catalog.for_provider(provider)


async def claim(
    session: AsyncSession,
    resources: Resources,
    provider: str,
    *,
    trigger: str,
    run_id: uuid.UUID | None = None,
    scope: str = validation_results.FULL,
) -> uuid.UUID:
    """Insert the provider's `running` row of `scope` in `session`'s transaction;
    ValidationRunning (409) with the running run's id when there is one. A `run` scope
    needs the ingest run's id: its rows are the ones that carry it."""
    suite = provider_suite(suites_of(resources), provider)
    tenant = resources.settings.tenant_id
    await validation_results.abandon_stale(
        session, tenant_id=tenant, provider=provider, scope=scope, older_than=STALE_RUN[scope]
    )
    if scope == validation_results.RUN:
        if run_id is None:
            raise ValueError("a run-scope validation needs the ingest run's id")
        rows = await validation_results.run_row_count(
            session, tenant_id=tenant, provider=provider, run_id=run_id
        )
    else:
        rows = await validation_results.observation_count(
            session, tenant_id=tenant, provider=provider
        )
    result_id, claimed = await validation_results.claim(
        session,
        tenant_id=tenant,
        provider=provider,
        suite=suite.name,
        trigger=trigger,
        run_id=run_id,
        row_count=rows,
        scope=scope,
    )
    if not claimed:
        raise ValidationRunning(
            f"a {scope}-scope validation run for {provider} is already running ({result_id}); "
            f"wait for it: GET /v1/admin/external/validation/{provider}",
            details={"running_id": str(result_id)},
        )
    return result_id


async def run_validation(
    resources: Resources,
    provider: str,
    *,
    trigger: str,
    run_id: uuid.UUID | None = None,
    scope: str = validation_results.FULL,
) -> uuid.UUID:
    """Validate one provider now and store the result; returns the result id. Raises
    NotFound for an unknown provider and ValidationRunning while a run of `scope` is going."""
    async with resources.sessionmaker() as session, session.begin():
        result_id = await claim(
            session, resources, provider, trigger=trigger, run_id=run_id, scope=scope
        )
    await execute(resources, provider, result_id)
    return result_id


async def execute(resources: Resources, provider: str, result_id: uuid.UUID) -> None:
    """Run a claimed validation to its end: completed (passed or failed) or errored. Never
    raises for a validation problem; the stored row says what happened."""
    suite = provider_suite(suites_of(resources), provider)
    settings = resources.settings
    started = time.perf_counter()
    try:
        async with resources.sessionmaker() as session:
            parameters = await run_parameters(session, resources, suite, result_id)
            claimed = await validation_results.get(session, result_id)
        assert claimed is not None
        common: dict[str, Any] = {
            "tenant_id": settings.tenant_id,
            "parameters": parameters,
            "chunk_rows": settings.validation_chunk_rows,
            "statement_timeout_ms": settings.db_statement_timeout_ms,
        }
        url = async_url(resources.dependencies.database_url)
        if claimed.scope == validation_results.RUN and claimed.run_id is not None:
            scoped = await in_daemon_thread(
                validate_run, url, suite, run_id=claimed.run_id, **common
            )
        else:
            scoped = await in_daemon_thread(validate_history, url, suite, **common)
    except asyncio.CancelledError:
        await _store_error(resources, result_id, "cancelled: the service stopped during the run")
        raise
    except Exception as exc:  # GE raises many types; any of them ends this run, not the caller
        log.exception("validation run failed", extra={"provider": provider})
        await _store_error(resources, result_id, f"{type(exc).__name__}: {exc}")
        EXTERNAL_VALIDATION_RUNS.labels(provider, "errored").inc()
        return
    finally:
        EXTERNAL_VALIDATION_SECONDS.labels(provider).observe(time.perf_counter() - started)
    await _store_outcome(resources, provider, result_id, scoped)


async def run_parameters(
    session: AsyncSession, resources: Resources, suite: ProviderSuite, result_id: uuid.UUID
) -> dict[str, Any]:
    """Values of the suite's `$PARAMETER`s for this run: dates relative to today (UTC) and the
    row-count bounds from the last completed run."""
    today = datetime.now(UTC).date()
    claimed = await validation_results.get(session, result_id)
    rows = claimed.row_count if claimed is not None and claimed.row_count is not None else 0
    previous = await validation_results.previous_row_count(
        session, tenant_id=resources.settings.tenant_id, provider=suite.provider
    )
    return parameters_for(suite, today=today, row_count=rows, previous_row_count=previous)


def parameters_for(
    suite: ProviderSuite, *, today: date, row_count: int, previous_row_count: int | None
) -> dict[str, Any]:
    # No previous run: any non-empty table is within bounds; an empty one fails (no data).
    if previous_row_count is None:
        floor, ceiling = 1, max(row_count, 1) * ROW_COUNT_CEILING_RATIO + ROW_COUNT_CEILING_SLACK
    else:
        floor = max(1, int(previous_row_count * ROW_COUNT_FLOOR_RATIO))
        ceiling = previous_row_count * ROW_COUNT_CEILING_RATIO + ROW_COUNT_CEILING_SLACK
    values: dict[str, Any] = {
        "today": today.isoformat(),
        "row_count_floor": floor,
        "row_count_ceiling": ceiling,
    }
    for name in suite.parameters:
        match = RELATIVE_DATE.match(name)
        if match:
            days = int(match.group(2)) * (-1 if match.group(1) == "minus" else 1)
            values[name] = (today + timedelta(days=days)).isoformat()
    return values


async def _store_outcome(
    resources: Resources, provider: str, result_id: uuid.UUID, scoped: ScopedOutcome
) -> None:
    outcome = scoped.outcome
    failed = [_failure(item) for item in outcome.results if not item.success]
    score = quality_score(outcome.results)
    async with resources.sessionmaker() as session, session.begin():
        await validation_results.finish(
            session,
            result_id,
            status=validation_results.COMPLETED,
            success=outcome.success,
            evaluated=outcome.evaluated,
            successful=outcome.successful,
            unsuccessful=outcome.unsuccessful,
            success_percent=round(outcome.success_percent, 2),
            quality_score=score,
            failed_expectations=failed,
        )
    EXTERNAL_QUALITY_SCORE.labels(provider).set(score)
    EXTERNAL_VALIDATION_RUNS.labels(provider, "passed" if outcome.success else "failed").inc()
    log.info(
        "validation run finished",
        extra={
            "provider": provider,
            "result_id": str(result_id),
            "success": outcome.success,
            "score": score,
            "unsuccessful": outcome.unsuccessful,
            "chunks": scoped.chunks,
        },
    )


def _failure(item: Any) -> dict[str, Any]:
    return {key: value for key, value in asdict(item).items() if key != "success"}


async def _store_error(resources: Resources, result_id: uuid.UUID, message: str) -> None:
    async with resources.sessionmaker() as session, session.begin():
        await validation_results.finish(
            session, result_id, status=validation_results.ERRORED, error=message[:4000]
        )
