"""provider_recoveries: a recovery's marker, consumed by the next full collection

A provider that recovers (a paused ingest resumed, its breaker closed after being open, a
reset) gets a row here; its next successful collection of every series re-reads each series'
revision window (revisions published during the outage) and deletes the row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 16:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_recoveries",
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_provider_recoveries")),
    )


def downgrade() -> None:
    op.drop_table("provider_recoveries")
