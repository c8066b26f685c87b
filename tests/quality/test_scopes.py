"""The two validation scopes against real PostgreSQL: after an ingest only the run's rows (and
their neighbours) are validated, whatever the history's size; the full-history job reads the
whole history in chunks and finds a bad row wherever it is; and it never holds up a
collection or the collection's own validation."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from app.db.engine import async_url
from app.db.repositories import validation_results
from app.main import create_app
from app.quality import service
from app.quality.full_history import validate_history
from app.quality.provider_checks import CHECK_IDS
from app.quality.run_rows import run_expectations
from app.settings import Settings
from tests.ingest.support import obs
from tests.quality.conftest import SM, clean_fred_rows, dgs10_history, ingest, set_value
from tests.support.apps import running_app

HISTORY_DAYS = 6_000


def _today() -> date:
    return datetime.now(UTC).date()


async def _history_with_a_bad_row(sessionmaker: SM, tenant: str) -> date:
    """A large clean DGS10 history ending before the recent rows, with one value out of range
    deep inside it; returns the bad row's date."""
    await dgs10_history(sessionmaker, tenant, days=HISTORY_DAYS, end=_today() - timedelta(days=60))
    bad_day = _today() - timedelta(days=60 + HISTORY_DAYS // 2)
    await set_value(sessionmaker, tenant, bad_day, 500.0)
    return bad_day


async def test_the_run_scope_reads_only_the_runs_rows_and_fails_on_a_bad_one(
    tenant_settings: Settings, sessionmaker: SM
) -> None:
    tenant = tenant_settings.tenant_id
    await _history_with_a_bad_row(sessionmaker, tenant)
    rows = clean_fred_rows()
    run_id = await ingest(sessionmaker, tenant, "fred", rows)
    app = create_app(tenant_settings)
    async with running_app(app):
        resources = app.state.resources
        clean = await service.run_validation(
            resources, "fred", trigger="ingest", run_id=run_id, scope=validation_results.RUN
        )
        bad_day = _today() - timedelta(days=3)
        bad_run = await ingest(sessionmaker, tenant, "fred", [obs("DGS10", bad_day, 500.0)])
        failing = await service.run_validation(
            resources, "fred", trigger="ingest", run_id=bad_run, scope=validation_results.RUN
        )
    async with sessionmaker() as session:
        first = await validation_results.get(session, clean)
        second = await validation_results.get(session, failing)
    assert first is not None and second is not None
    # The history's bad row is not the run's: the run's validation neither reads nor fails it.
    assert first.scope == "run" and first.status == "completed", first.error
    assert first.row_count == len(rows) and first.success is True, first.failed_expectations
    assert second.row_count == 1 and second.success is False
    failed = {item["id"]: item for item in second.failed_expectations}
    assert 500.0 in failed["fred.DGS10.range"]["observed"]["partial_unexpected_list"]
    # The neighbours in its series are read: the jump is seen from both sides.
    assert failed["fred.DGS10.no_spikes"]["observed"]["observed_value"] == 2
    # Whole-history expectations are left to the full-history job.
    assert "fred.row_count.change" not in {item["id"] for item in second.failed_expectations}
    suite = service.provider_suite(service.suites_of(resources), "fred")
    assert first.evaluated == second.evaluated == len(run_expectations(suite))
    assert second.evaluated < len(suite.expectations)


async def test_the_full_history_job_finds_a_bad_row_anywhere_in_chunks(
    tenant_settings: Settings, sessionmaker: SM, database_url: str
) -> None:
    tenant = tenant_settings.tenant_id
    bad_day = await _history_with_a_bad_row(sessionmaker, tenant)
    await ingest(sessionmaker, tenant, "fred", clean_fred_rows())
    app = create_app(tenant_settings)
    async with running_app(app):
        suite = service.provider_suite(service.suites_of(app.state.resources), "fred")
    parameters = service.parameters_for(
        suite, today=_today(), row_count=HISTORY_DAYS + 200, previous_row_count=None
    )
    scoped = await asyncio.to_thread(
        validate_history,
        async_url(database_url),
        suite,
        tenant_id=tenant,
        parameters=parameters,
        chunk_rows=1_000,
        statement_timeout_ms=30_000,
    )
    assert scoped.chunks >= HISTORY_DAYS // 1_000
    failed = {item.id: item for item in scoped.outcome.results if not item.success}
    assert 500.0 in failed["fred.DGS10.range"].observed["partial_unexpected_list"]
    spikes = failed["fred.DGS10.no_spikes"].observed["details"]["unexpected_rows"]
    assert {row["obs_date"] for row in spikes} == {
        bad_day.isoformat(),
        (bad_day + timedelta(days=1)).isoformat(),
    }
    # Every expectation once, merged over the chunks, and the SQL checks over the history.
    ids = [item.id for item in scoped.outcome.results]
    assert len(ids) == len(set(ids)) == len(suite.expectations) + len(CHECK_IDS)
    range_check = next(i for i in scoped.outcome.results if i.id == "fred.DGS10.range")
    assert range_check.observed["unexpected_count"] == 1


async def test_a_collection_and_its_validation_proceed_while_the_full_history_job_runs(
    tenant_settings: Settings, sessionmaker: SM
) -> None:
    tenant = tenant_settings.tenant_id
    await _history_with_a_bad_row(sessionmaker, tenant)
    settings = tenant_settings.model_copy(update={"validation_chunk_rows": 500})
    app = create_app(settings)
    async with running_app(app):
        resources = app.state.resources
        full = asyncio.create_task(service.run_validation(resources, "fred", trigger="scheduled"))
        full_id = await _running(sessionmaker, tenant)
        # A collection writes its rows, and validates them, while the job holds its claim.
        run_id = await ingest(sessionmaker, tenant, "fred", clean_fred_rows())
        run_result = await service.run_validation(
            resources, "fred", trigger="ingest", run_id=run_id, scope=validation_results.RUN
        )
        async with sessionmaker() as session:
            during = await validation_results.get(session, full_id)
        assert during is not None and during.status == "running" and not full.done()
        assert await full == full_id
    async with sessionmaker() as session:
        ran = await validation_results.get(session, run_result)
        done = await validation_results.get(session, full_id)
    assert ran is not None and ran.status == "completed" and ran.success is True
    assert done is not None and done.status == "completed" and done.success is False


async def _running(sessionmaker: SM, tenant: str) -> object:
    for _ in range(200):
        async with sessionmaker() as session:
            found = (
                await session.execute(
                    text(
                        "SELECT id FROM validation_results WHERE tenant_id = :t "
                        "AND status = 'running' AND scope = 'full'"
                    ),
                    {"t": tenant},
                )
            ).scalar_one_or_none()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the full-history run never started")
