"""initial schema: catalog, observations, checkpoints, runs, audit, keys, flags, quality, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-23 02:37:10.741986+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timescaledb_loaded() -> bool:
    """TimescaleDB can only be created where the server preloads its library."""
    row = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb' "
                "AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
            )
        )
        .first()
    )
    return row is not None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("principal", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_occurred_at"), "audit_log", ["occurred_at"], unique=False)
    op.create_index(
        op.f("ix_audit_log_principal"), "audit_log", ["principal", "occurred_at"], unique=False
    )
    op.create_index(
        op.f("ix_audit_log_target"), "audit_log", ["target", "occurred_at"], unique=False
    )
    op.create_table(
        "external_timeseries_obs",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("series_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("obs_date", sa.Date(), nullable=False),
        sa.Column("period_label", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("raw_value", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("units", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "ingested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "provider",
            "series_id",
            "obs_date",
            name=op.f("pk_external_timeseries_obs"),
        ),
    )
    op.create_index(
        op.f("ix_external_timeseries_obs_provider"),
        "external_timeseries_obs",
        ["provider", "series_id", "obs_date"],
        unique=False,
    )
    op.create_index(
        op.f("ix_external_timeseries_obs_run_id"),
        "external_timeseries_obs",
        ["run_id"],
        unique=False,
    )
    if _timescaledb_loaded():
        # A hypertable when TimescaleDB is there; a plain table otherwise.
        op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        op.execute(
            "SELECT create_hypertable('external_timeseries_obs', 'obs_date', "
            "chunk_time_interval => INTERVAL '1 year', if_not_exists => TRUE, migrate_data => TRUE)"
        )
    op.create_table(
        "ingest_checkpoints",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("series_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("last_obs_date", sa.Date(), nullable=True),
        sa.Column("provider_last_updated", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "cursor",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "provider", "series_id", name=op.f("pk_ingest_checkpoints")
        ),
    )
    op.create_table(
        "ingest_dead_letters",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("series_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_dead_letters")),
    )
    op.create_index(
        op.f("ix_ingest_dead_letters_provider"), "ingest_dead_letters", ["provider"], unique=False
    )
    op.create_index(
        op.f("ix_ingest_dead_letters_run_id"), "ingest_dead_letters", ["run_id"], unique=False
    )
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "parameters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("rows_new", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_changed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_rejected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("requests_used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_summary", sqlmodel.sql.sqltypes.AutoString(length=4096), nullable=True),
        sa.Column("replica_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index(op.f("ix_job_runs_job_id"), "job_runs", ["job_id", "created_at"], unique=False)
    op.create_index(op.f("ix_job_runs_provider"), "job_runs", ["provider"], unique=False)
    op.create_index(op.f("ix_job_runs_status"), "job_runs", ["status", "created_at"], unique=False)
    op.create_table(
        "kafka_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=249), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "headers",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kafka_outbox")),
    )
    op.create_index(
        "ix_kafka_outbox_unsent",
        "kafka_outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "providers",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("base_url", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_providers")),
    )
    op.create_table(
        "runtime_flag_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "configuration",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("changed_by", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runtime_flag_history")),
    )
    op.create_index(
        op.f("ix_runtime_flag_history_name"),
        "runtime_flag_history",
        ["name", "version"],
        unique=False,
    )
    op.create_table(
        "runtime_flags",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "configuration",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revert_to", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_runtime_flags")),
    )
    op.create_index(
        op.f("ix_runtime_flags_expires_at"), "runtime_flags", ["expires_at"], unique=False
    )
    op.create_table(
        "validation_results",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("suite", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("successful", sa.Integer(), nullable=False),
        sa.Column("unsuccessful", sa.Integer(), nullable=False),
        sa.Column("success_percent", sa.Float(), nullable=True),
        sa.Column(
            "failed_expectations",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_results")),
    )
    op.create_index(
        op.f("ix_validation_results_provider"),
        "validation_results",
        ["provider", "started_at"],
        unique=False,
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("series_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("units", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("frequency", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column(
            "seasonal_adjustment", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True
        ),
        sa.Column("observation_start", sa.Date(), nullable=True),
        sa.Column("observation_end", sa.Date(), nullable=True),
        sa.Column("provider_last_updated", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "attributes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider"], ["providers.name"], name=op.f("fk_datasets_provider_providers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("provider", "series_id", name=op.f("uq_datasets_provider_series_id")),
    )
    op.create_index(op.f("ix_datasets_provider"), "datasets", ["provider"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_datasets_provider"), table_name="datasets")
    op.drop_table("datasets")
    op.drop_index(op.f("ix_validation_results_provider"), table_name="validation_results")
    op.drop_table("validation_results")
    op.drop_index(op.f("ix_runtime_flags_expires_at"), table_name="runtime_flags")
    op.drop_table("runtime_flags")
    op.drop_index(op.f("ix_runtime_flag_history_name"), table_name="runtime_flag_history")
    op.drop_table("runtime_flag_history")
    op.drop_table("providers")
    op.drop_index(
        "ix_kafka_outbox_unsent",
        table_name="kafka_outbox",
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.drop_table("kafka_outbox")
    op.drop_index(op.f("ix_job_runs_status"), table_name="job_runs")
    op.drop_index(op.f("ix_job_runs_provider"), table_name="job_runs")
    op.drop_index(op.f("ix_job_runs_job_id"), table_name="job_runs")
    op.drop_table("job_runs")
    op.drop_index(op.f("ix_ingest_dead_letters_run_id"), table_name="ingest_dead_letters")
    op.drop_index(op.f("ix_ingest_dead_letters_provider"), table_name="ingest_dead_letters")
    op.drop_table("ingest_dead_letters")
    op.drop_table("ingest_checkpoints")
    op.drop_index(op.f("ix_external_timeseries_obs_run_id"), table_name="external_timeseries_obs")
    op.drop_index(op.f("ix_external_timeseries_obs_provider"), table_name="external_timeseries_obs")
    op.drop_table("external_timeseries_obs")
    op.drop_index(op.f("ix_audit_log_target"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_principal"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_occurred_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
