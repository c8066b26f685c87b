"""external_series_monthly_stats and job_runs.unfinished_datasets: the SLA's inputs as aggregates

One row per (tenant, provider, series, month) with the month's observation count, a bit per
day that has an observation, its first and last date and its last change, so the SLA's
completeness reads a few rows per series instead of every observation of the window; the
ingest keeps it in the transaction that writes the observations. The upgrade fills it from
the stored observations in one statement.

job_runs.unfinished_datasets lists the datasets of a run's progress that were not done when
it finished, so per-dataset freshness does not read every run's progress document; filled for
the stored runs from their progress.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "external_series_monthly_stats",
        sa.Column("tenant_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("series_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("observation_count", sa.Integer(), nullable=False),
        sa.Column("day_mask", sa.Integer(), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("last_date", sa.Date(), nullable=False),
        sa.Column("last_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "provider",
            "series_id",
            "month",
            name=op.f("pk_external_series_monthly_stats"),
        ),
    )
    # The same aggregate as app/db/repositories/series_stats.py, over every stored row.
    op.execute(
        """
        INSERT INTO external_series_monthly_stats (
            tenant_id, provider, series_id, month, observation_count, day_mask, first_date,
            last_date, last_updated_at)
        SELECT tenant_id, provider, series_id, date_trunc('month', obs_date)::date, count(*),
               bit_or(1 << (extract(day FROM obs_date)::int - 1)), min(obs_date),
               max(obs_date), max(coalesce(updated_at, ingested_at))
        FROM external_timeseries_obs
        GROUP BY tenant_id, provider, series_id, date_trunc('month', obs_date)::date
        """
    )
    op.add_column(
        "job_runs", sa.Column("unfinished_datasets", postgresql.ARRAY(sa.Text()), nullable=True)
    )
    op.execute(
        """
        UPDATE job_runs SET unfinished_datasets = ARRAY(
            SELECT p.key FROM jsonb_each(progress) AS p
            WHERE jsonb_typeof(p.value) = 'object'
              AND (p.value ->> 'status') IS DISTINCT FROM 'done'
            ORDER BY p.key)
        WHERE finished_at IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_column("job_runs", "unfinished_datasets")
    op.drop_table("external_series_monthly_stats")
