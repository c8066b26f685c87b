"""provider_outages and outage_events: declared outages and their timeline

A declared outage keeps the mitigation it applied (each action with before and after) so the
resolve undoes exactly that; one open outage per provider (a partial unique index).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:08:48.915992+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_outages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("declared_by", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column(
            "declared_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "requested_actions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "applied_actions",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("resolve_reason", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
        sa.Column(
            "resolution",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("backfill_run_id", sa.Uuid(), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completeness", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_outages")),
    )
    op.create_index(
        op.f("ix_provider_outages_declared_at"), "provider_outages", ["declared_at"], unique=False
    )
    op.create_index(
        "uq_provider_outages_open_provider",
        "provider_outages",
        ["provider"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "outage_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("outage_id", sa.Uuid(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column(
            "detail",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["outage_id"],
            ["provider_outages.id"],
            name=op.f("fk_outage_events_outage_id_provider_outages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_events")),
    )
    op.create_index(
        op.f("ix_outage_events_outage_id"), "outage_events", ["outage_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outage_events_outage_id"), table_name="outage_events")
    op.drop_table("outage_events")
    op.drop_index(
        "uq_provider_outages_open_provider",
        table_name="provider_outages",
        postgresql_where=sa.text("status = 'open'"),
    )
    op.drop_index(op.f("ix_provider_outages_declared_at"), table_name="provider_outages")
    op.drop_table("provider_outages")
