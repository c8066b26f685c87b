"""Migrations run both ways on PostgreSQL and match the SQLModel tables exactly."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

import app.db.models  # noqa: F401 - registers the tables
from app.db import migrate
from app.db.metadata import metadata
from app.db.repositories.observation_partitions import is_partition
from tests.support.scheduling import sql

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
    "external_series_monthly_stats",
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    return {name for name in names if not is_partition(name)}


def test_downgrade_to_base_then_upgrade_to_head(database_url: str, engine: Engine) -> None:
    try:
        migrate.downgrade(database_url, "base")
        assert _tables(engine) == set()
    finally:
        migrate.upgrade(database_url)
    assert _tables(engine) == EXPECTED_TABLES


# Done, failed, never started, and a key that is not a dataset.
PROGRESS = {"A": {"status": "done"}, "B": {"status": "failed"}, "C": {"rows": 0}, "_mode": "full"}


def test_monthly_stats_are_backfilled_from_stored_rows(database_url: str, engine: Engine) -> None:
    """0011's upgrade fills the stats and the runs' unfinished datasets from what is stored;
    its downgrade drops both, and the upgrade runs again."""
    migrate.downgrade(database_url, "0010")
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id,"
                    " obs_date, period_label) SELECT 'mig', 'fred', 'S' || (n % 2),"
                    " date '2026-01-30' + n, '' FROM generate_series(0, 5) n"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO job_runs (id, job_id, trigger, status, finished_at, progress)"
                    " VALUES (gen_random_uuid(), 'mig.test', 'manual', 'succeeded', now(),"
                    " CAST(:progress AS jsonb))"
                ),
                {"progress": json.dumps(PROGRESS)},
            )
        migrate.upgrade(database_url, "0011")
        with engine.connect() as conn:
            stats = conn.execute(
                text(
                    "SELECT series_id, month, observation_count, day_mask, first_date, last_date"
                    " FROM external_series_monthly_stats WHERE tenant_id = 'mig'"
                    " ORDER BY series_id, month"
                )
            ).all()
            unfinished = conn.execute(
                text("SELECT unfinished_datasets FROM job_runs WHERE job_id = 'mig.test'")
            ).scalar_one()
        jan, feb = date(2026, 1, 1), date(2026, 2, 1)
        # S0: Jan 30, Feb 1, Feb 3; S1: Jan 31, Feb 2, Feb 4
        assert [tuple(row) for row in stats] == [
            ("S0", jan, 1, 1 << 29, date(2026, 1, 30), date(2026, 1, 30)),
            ("S0", feb, 2, 0b101, date(2026, 2, 1), date(2026, 2, 3)),
            ("S1", jan, 1, 1 << 30, date(2026, 1, 31), date(2026, 1, 31)),
            ("S1", feb, 2, 0b1010, date(2026, 2, 2), date(2026, 2, 4)),
        ]
        assert unfinished == ["B", "C"]
        migrate.downgrade(database_url, "0010")
        assert "external_series_monthly_stats" not in _tables(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("job_runs")}
        assert "unfinished_datasets" not in columns
    finally:
        migrate.upgrade(database_url)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM external_timeseries_obs WHERE tenant_id = 'mig'"))
            conn.execute(text("DELETE FROM external_series_monthly_stats WHERE tenant_id = 'mig'"))
            conn.execute(text("DELETE FROM job_runs WHERE job_id = 'mig.test'"))


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: not (kind == "table" and is_partition(name)),
            },
        )
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


# Before 1900, a decade, a year, and one past every yearly partition (DEFAULT).
_DATES = ["1850-06-01", "1955-01-01", "2021-03-01", "2099-12-31"]


def _observations(database_url: str, tenant: str) -> list[tuple[object, ...]]:
    return sql(
        database_url,
        "SELECT series_id, obs_date::text, value, tableoid::regclass::text "
        "FROM external_timeseries_obs WHERE tenant_id = %s ORDER BY obs_date",
        tenant,
    )


def _relkind(database_url: str) -> str:
    rows = sql(database_url, "SELECT relkind::text FROM pg_class WHERE relname = %s", _OBS)
    return str(rows[0][0])


_OBS = "external_timeseries_obs"


def test_partitioning_moves_rows_both_ways(database_url: str) -> None:
    """0012 moves existing rows into partitions and back into a plain table on downgrade;
    the upsert's ON CONFLICT target still works on the partitioned table."""
    tenant = f"mig{uuid.uuid4().hex[:8]}"
    try:
        migrate.downgrade(database_url, "0011")
        assert _relkind(database_url) == "r"
        for i, day in enumerate(_DATES):
            sql(
                database_url,
                f"INSERT INTO {_OBS} (tenant_id, provider, series_id, obs_date, period_label, "
                "value) VALUES (%s, 'fred', %s, %s, 'p', %s)",
                tenant,
                f"S{i}",
                day,
                float(i),
            )
        migrate.upgrade(database_url)
        assert _relkind(database_url) == "p"
        rows = _observations(database_url, tenant)
        assert [(s, d, v) for s, d, v, _ in rows] == [
            (f"S{i}", day, float(i)) for i, day in enumerate(_DATES)
        ]
        assert [part for *_, part in rows] == [
            f"{_OBS}_history",
            f"{_OBS}_d1950",
            f"{_OBS}_y2021",
            f"{_OBS}_default",
        ]
        sql(
            database_url,
            f"INSERT INTO {_OBS} (tenant_id, provider, series_id, obs_date, period_label, value) "
            "VALUES (%s, 'fred', 'S2', '2021-03-01', 'p', 9) "
            "ON CONFLICT (tenant_id, provider, series_id, obs_date) "
            "DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            tenant,
        )
        migrate.downgrade(database_url, "0011")
        assert _relkind(database_url) == "r"
        rows = _observations(database_url, tenant)
        assert [v for _, _, v, _ in rows] == [0.0, 1.0, 9.0, 3.0]
        assert {part for *_, part in rows} == {_OBS}
    finally:
        migrate.upgrade(database_url)
    assert _relkind(database_url) == "p"
    assert len(_observations(database_url, tenant)) == len(_DATES)
    sql(database_url, f"DELETE FROM {_OBS} WHERE tenant_id = %s", tenant)


def test_the_validation_scope_migration_moves_the_quality_job_and_round_trips(
    database_url: str, engine: Engine
) -> None:
    """0013 renames the hourly quality job (its runs and its pause follow it) and gives each
    validation scope its own running claim; downward it renames them back."""
    try:
        migrate.downgrade(database_url, "0012")
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
        migrate.downgrade(database_url, "0012")
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
