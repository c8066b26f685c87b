"""Migrations run both ways on PostgreSQL and match the SQLModel tables exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

import app.db.models  # noqa: F401 - registers the tables
from app.db import migrate
from app.db.metadata import metadata

EXPECTED_TABLES = {
    "providers",
    "datasets",
    "external_timeseries_obs",
    "ingest_checkpoints",
    "ingest_dead_letters",
    "job_runs",
    "audit_log",
    "api_keys",
    "runtime_flags",
    "runtime_flag_history",
    "validation_results",
    "kafka_outbox",
    "provider_overrides",
    "provider_recoveries",
    "job_pauses",
    "scheduler_leader",
    "provider_outages",
    "outage_events",
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_downgrade_to_base_then_upgrade_to_head(database_url: str, engine: Engine) -> None:
    try:
        migrate.downgrade(database_url, "base")
        assert _tables(engine) == set()
    finally:
        migrate.upgrade(database_url)
    assert _tables(engine) == EXPECTED_TABLES


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, metadata)
    assert diffs == [], f"a model changed without a migration: {diffs}"


def test_constraints_follow_the_naming_convention(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in EXPECTED_TABLES:
        assert inspector.get_pk_constraint(table)["name"] == f"pk_{table}"


def test_observations_are_keyed_by_tenant_provider_series_and_date(engine: Engine) -> None:
    pk = inspect(engine).get_pk_constraint("external_timeseries_obs")
    assert pk["constrained_columns"] == ["tenant_id", "provider", "series_id", "obs_date"]
    columns = {c["name"] for c in inspect(engine).get_columns("external_timeseries_obs")}
    assert {"period_label", "value", "raw_value", "units", "metadata", "ingested_at"} <= columns
    assert {"run_id", "batch_id"} <= columns


def test_migration_files_are_dated() -> None:
    versions = Path(migrate.PROJECT_ROOT, "migrations", "versions")
    names = [p.name for p in versions.glob("*.py")]
    assert names
    for name in names:
        date_part = name.split("-", 1)[0]
        assert len(date_part) == len("2026_11_23_0236") and date_part[:4].isdigit(), name


def test_the_validation_scope_migration_moves_the_quality_job_and_round_trips(
    database_url: str, engine: Engine
) -> None:
    """0011v renames the hourly quality job (its runs and its pause follow it) and gives each
    validation scope its own running claim; downward it renames them back."""
    try:
        migrate.downgrade(database_url, "0010")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM job_pauses WHERE job_id LIKE '%quality%'"))
            conn.execute(
                text(
                    "INSERT INTO job_runs (id, job_id, trigger, parameters, status) VALUES "
                    "(gen_random_uuid(), 'monitor.quality', 'scheduled', '{}', 'succeeded')"
                )
            )
            conn.execute(
                text("INSERT INTO job_pauses (job_id, paused_by) VALUES ('monitor.quality', 'x')")
            )
        migrate.upgrade(database_url)
        with engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM job_runs WHERE job_id = 'monitor.quality'")
                ).scalar_one()
                == 0
            )
            assert (
                conn.execute(
                    text("SELECT job_id FROM job_pauses WHERE job_id LIKE '%quality%'")
                ).scalar_one()
                == "quality.full_history"
            )
        index = next(
            i
            for i in inspect(engine).get_indexes("validation_results")
            if i["name"] == "uq_validation_results_running"
        )
        assert index["column_names"] == ["tenant_id", "provider", "scope"]
        migrate.downgrade(database_url, "0010")
        with engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT job_id FROM job_pauses WHERE job_id LIKE '%quality%'")
                ).scalar_one()
                == "monitor.quality"
            )
    finally:
        migrate.upgrade(database_url)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM job_pauses WHERE job_id LIKE '%quality%'"))
            conn.execute(text("DELETE FROM job_runs WHERE job_id LIKE '%quality%'"))
