"""job_runs: leader_epoch, and an abandoned run gives its schedule slot up

A run records the scheduler leader's epoch that started it, so a newly elected leader can
mark `abandoned` the runs a dead leader left `running`. An abandoned scheduled run keeps its
slot for the record, but the slot's unique index no longer counts it, so the slot's re-run
can take it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:20:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_job_runs_job_id_slot"


def upgrade() -> None:
    op.add_column("job_runs", sa.Column("leader_epoch", sa.Integer(), nullable=True))
    op.drop_index(INDEX, table_name="job_runs", postgresql_where=sa.text("slot IS NOT NULL"))
    op.create_index(
        INDEX,
        "job_runs",
        ["job_id", "slot"],
        unique=True,
        postgresql_where=sa.text("slot IS NOT NULL AND status <> 'abandoned'"),
    )


def downgrade() -> None:
    op.drop_index(
        INDEX,
        table_name="job_runs",
        postgresql_where=sa.text("slot IS NOT NULL AND status <> 'abandoned'"),
    )
    # Abandoned runs become failed, and give up their slot to their re-runs, which hold it.
    op.execute(
        "UPDATE job_runs r SET slot = NULL WHERE r.status = 'abandoned' AND EXISTS ("
        "SELECT 1 FROM job_runs o WHERE o.job_id = r.job_id AND o.slot = r.slot "
        "AND o.id <> r.id AND o.status <> 'abandoned')"
    )
    op.execute(
        "UPDATE job_runs r SET slot = NULL WHERE r.status = 'abandoned' AND EXISTS ("
        "SELECT 1 FROM job_runs o WHERE o.job_id = r.job_id AND o.slot = r.slot "
        "AND o.status = 'abandoned' AND o.created_at > r.created_at)"
    )
    op.execute("UPDATE job_runs SET status = 'failed' WHERE status = 'abandoned'")
    op.create_index(
        INDEX, "job_runs", ["job_id", "slot"], unique=True,
        postgresql_where=sa.text("slot IS NOT NULL"),
    )  # fmt: skip
    op.drop_column("job_runs", "leader_epoch")
