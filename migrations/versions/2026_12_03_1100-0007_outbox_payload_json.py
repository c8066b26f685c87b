"""kafka_outbox.payload: jsonb -> json (the message text, kept as written), stored uncompressed

An outbox row is the message to publish; the relay reads it as text. jsonb parsed every
payload into its binary form on insert and printed it back on every relay pass: for schema-2
messages (a thousand observations each) that parse was half of PostgreSQL's cost of
ingesting a new row. json checks the text is JSON and keeps it as written. The payload is
still queryable (`payload->>'tenant_id'`); jsonb-only operators need `payload::jsonb`.

STORAGE EXTERNAL: out of line but not compressed. pglz-compressing each ~170 KB message cost
about as much as storing it, and the relay decompressed it again; the rows are a queue, and
maintenance.retention deletes them `jobs.outbox_retention_days` after they were sent.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE kafka_outbox ALTER COLUMN payload DROP DEFAULT")
    op.execute("ALTER TABLE kafka_outbox ALTER COLUMN payload TYPE json USING payload::json")
    op.execute("ALTER TABLE kafka_outbox ALTER COLUMN payload SET DEFAULT '{}'::json")
    op.execute("ALTER TABLE kafka_outbox ALTER COLUMN payload SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE kafka_outbox ALTER COLUMN payload SET STORAGE EXTENDED")
    op.execute("ALTER TABLE kafka_outbox ALTER COLUMN payload DROP DEFAULT")
    op.execute("ALTER TABLE kafka_outbox ALTER COLUMN payload TYPE jsonb USING payload::jsonb")
    op.execute("ALTER TABLE kafka_outbox ALTER COLUMN payload SET DEFAULT '{}'::jsonb")
