"""validation scope: a run's rows or the full history, each with its own running claim;
the hourly quality job is renamed quality.full_history

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_JOB, NEW_JOB = "monitor.quality", "quality.full_history"


def upgrade() -> None:
    # Every earlier run read the provider's whole history.
    op.add_column(
        "validation_results",
        sa.Column(
            "scope",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            server_default="full",
            nullable=False,
        ),
    )
    # One running run per provider and scope: the full-history job never blocks the
    # validation an ingest starts, nor the other way round.
    op.drop_index("uq_validation_results_running", table_name="validation_results")
    op.create_index(
        "uq_validation_results_running",
        "validation_results",
        ["tenant_id", "provider", "scope"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    _rename_job(OLD_JOB, NEW_JOB)


def downgrade() -> None:
    _rename_job(NEW_JOB, OLD_JOB)
    op.execute("UPDATE validation_results SET status = 'errored' WHERE status = 'running'")
    op.drop_index("uq_validation_results_running", table_name="validation_results")
    op.create_index(
        "uq_validation_results_running",
        "validation_results",
        ["tenant_id", "provider"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.drop_column("validation_results", "scope")


def _rename_job(old: str, new: str) -> None:
    """Run history and pauses follow the job to its new id (a pause must keep holding)."""
    params = {"old": old, "new": new}
    op.execute(
        sa.text("UPDATE job_runs SET job_id = :new WHERE job_id = :old").bindparams(**params)
    )
    op.execute(
        sa.text(
            "UPDATE job_pauses SET job_id = :new WHERE job_id = :old AND NOT EXISTS "
            "(SELECT 1 FROM job_pauses WHERE job_id = :new)"
        ).bindparams(**params)
    )
