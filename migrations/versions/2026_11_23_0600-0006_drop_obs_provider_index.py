"""observations: drop ix_external_timeseries_obs_provider

Every query on external_timeseries_obs names the tenant (the primary key, tenant_id, provider,
series_id, obs_date, serves them) or filters by obs_date alone (retention, which this index
does not serve either). The index only cost the ingest upsert a second B-tree insert per row.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 06:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_external_timeseries_obs_provider"), table_name="external_timeseries_obs")


def downgrade() -> None:
    op.create_index(
        op.f("ix_external_timeseries_obs_provider"),
        "external_timeseries_obs",
        ["provider", "series_id", "obs_date"],
        unique=False,
    )
