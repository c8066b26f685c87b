"""validation runs: tenant, trigger, row count, score, error; one running run per provider

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-23 05:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "validation_results",
        sa.Column(
            "tenant_id",
            sqlmodel.sql.sqltypes.AutoString(length=64),
            server_default="default",
            nullable=False,
        ),
    )
    op.add_column("validation_results", sa.Column("quality_score", sa.Float(), nullable=True))
    op.add_column(
        "validation_results",
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    )
    op.add_column("validation_results", sa.Column("row_count", sa.Integer(), nullable=True))
    op.add_column(
        "validation_results",
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=4096), nullable=True),
    )
    # Two replicas starting a run for one provider: the second INSERT fails here.
    op.create_index(
        "uq_validation_results_running",
        "validation_results",
        ["tenant_id", "provider"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("uq_validation_results_running", table_name="validation_results")
    op.drop_column("validation_results", "error")
    op.drop_column("validation_results", "row_count")
    op.drop_column("validation_results", "trigger")
    op.drop_column("validation_results", "quality_score")
    op.drop_column("validation_results", "tenant_id")
