"""scheduler: job pauses, leader record, run slots, cancel and progress

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 05:01:58.372967+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_pauses",
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("paused_by", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
        sa.Column(
            "paused_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("automatic", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_pauses")),
    )
    op.create_table(
        "scheduler_leader",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("replica_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leader")),
    )
    op.add_column("job_runs", sa.Column("slot", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "job_runs",
        sa.Column("cancel_requested", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column(
        "job_runs",
        sa.Column(
            "progress",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.create_index(
        "uq_job_runs_job_id_slot",
        "job_runs",
        ["job_id", "slot"],
        unique=True,
        postgresql_where=sa.text("slot IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_job_runs_job_id_slot",
        table_name="job_runs",
        postgresql_where=sa.text("slot IS NOT NULL"),
    )
    op.drop_column("job_runs", "progress")
    op.drop_column("job_runs", "cancel_requested")
    op.drop_column("job_runs", "slot")
    op.drop_table("scheduler_leader")
    op.drop_table("job_pauses")
