"""observations: range-partitioned by obs_date (a compressed hypertable under TimescaleDB)

Retention used to DELETE years of rows one chunk at a time; with partitions it drops whole
years. Bounds: one partition for everything before 1900, one per decade for 1900-1999, one
per year from 2000 to this year + AHEAD_YEARS (past the ingest's ten-year limit on future
dates), and a DEFAULT partition for anything later. Decades for the old history because it is small (annual
and monthly series back to the 1900s), never updated, and a partition per year would double
the partitions every lookup without a date plans over; years where retention cuts (the
horizon is five years by default), so it drops a year at a time. maintenance.partitions
keeps creating years ahead and moves rows out of DEFAULT; the migration creates enough ahead
that it rarely needs DDL.

The primary key already contains obs_date, so it stays the key (and the upsert's ON CONFLICT
target) of the partitioned table. Rows are moved with INSERT .. SELECT under the old table's
ACCESS EXCLUSIVE lock, then the names are swapped; grants are copied. The table has no
sequence or identity column. Downgrade moves the rows back into a plain table.

Where TimescaleDB is loaded, 0001 already made the table a hypertable (yearly chunks): this
revision turns compression on instead and leaves the table's shape alone.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07 20:10:00.000000+00:00
"""

import logging
from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

TABLE = "external_timeseries_obs"
SET_ASIDE = "external_timeseries_obs_unpartitioned"
FIRST_DECADE = 1900
FIRST_YEAR = 2000
# Years created ahead of today: the ingest accepts dates up to ten years ahead (forecasts),
# so no accepted row lands in DEFAULT, and maintenance.partitions has years of slack before
# it needs DDL (which takes locks on the parent).
AHEAD_YEARS = 11

# Everything but the key and the run_id index, which are recreated under their own names.
_COLUMNS = """
    tenant_id varchar(64) NOT NULL,
    provider varchar(32) NOT NULL,
    series_id varchar(256) NOT NULL,
    obs_date date NOT NULL,
    period_label varchar(32) NOT NULL,
    value double precision,
    raw_value varchar(64),
    units varchar(256),
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    ingested_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone,
    run_id uuid,
    batch_id uuid"""
_KEY = "tenant_id, provider, series_id, obs_date"
_ALL = (
    "tenant_id, provider, series_id, obs_date, period_label, value, raw_value, units, "
    "metadata, ingested_at, updated_at, run_id, batch_id"
)


def _scalar(query: str) -> object:
    return op.get_bind().execute(sa.text(query)).scalar()


def _is_hypertable() -> bool:
    if not _scalar("SELECT to_regclass('_timescaledb_catalog.hypertable') IS NOT NULL"):
        return False
    return bool(
        _scalar(
            "SELECT EXISTS (SELECT 1 FROM _timescaledb_catalog.hypertable "  # noqa: S608
            f"WHERE table_name = '{TABLE}')"
        )
    )


def _bounds(today: date) -> list[tuple[str, str, str]]:
    """(suffix, from, to) of every range partition the migration creates."""
    parts = [("history", "MINVALUE", f"'{FIRST_DECADE}-01-01'")]
    for decade in range(FIRST_DECADE, FIRST_YEAR, 10):
        parts.append((f"d{decade}", f"'{decade}-01-01'", f"'{decade + 10}-01-01'"))
    for year in range(FIRST_YEAR, today.year + AHEAD_YEARS + 1):
        parts.append((f"y{year}", f"'{year}-01-01'", f"'{year + 1}-01-01'"))
    return parts


def _grants(table: str) -> list[str]:
    """GRANT statements that give another table the privileges others hold on `table`."""
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT quote_ident(r.rolname), a.privilege_type, a.is_grantable "
                "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a "
                "JOIN pg_roles r ON r.oid = a.grantee "
                "WHERE c.oid = to_regclass(:t) AND a.grantee <> c.relowner"
            ),
            {"t": table},
        )
        .all()
    )
    return [
        f"GRANT {privilege} ON {{table}} TO {role}" + (" WITH GRANT OPTION" if grantable else "")
        for role, privilege, grantable in rows
    ]


def _set_aside(kind: str) -> list[str]:
    """Rename the current table and its constraint/index out of the way; return its grants."""
    grants = _grants(TABLE)
    op.execute(f"ALTER TABLE {TABLE} RENAME TO {SET_ASIDE}")
    op.execute(f"ALTER TABLE {SET_ASIDE} RENAME CONSTRAINT pk_{TABLE} TO pk_{SET_ASIDE}")
    op.execute(f"ALTER INDEX ix_{TABLE}_run_id RENAME TO ix_{SET_ASIDE}_run_id")
    log.info("observations: moving rows into a %s table", kind)
    return grants


def _finish(grants: list[str]) -> None:
    op.execute(f"INSERT INTO {TABLE} ({_ALL}) SELECT {_ALL} FROM {SET_ASIDE}")  # noqa: S608
    op.execute(f"DROP TABLE {SET_ASIDE}")
    for grant in grants:
        op.execute(grant.format(table=TABLE))
    op.execute(f"ANALYZE {TABLE}")


def upgrade() -> None:
    if _is_hypertable():
        op.execute(
            f"ALTER TABLE {TABLE} SET (timescaledb.compress, "
            "timescaledb.compress_segmentby = 'tenant_id, provider, series_id', "
            "timescaledb.compress_orderby = 'obs_date')"
        )
        op.execute(f"SELECT add_compression_policy('{TABLE}', INTERVAL '2 years')")
        log.info("observations: TimescaleDB hypertable, compression turned on")
        return
    log.info("observations: TimescaleDB absent, native range partitions by obs_date")
    grants = _set_aside("partitioned")
    op.execute(
        f"CREATE TABLE {TABLE} ({_COLUMNS},\n"
        f"    CONSTRAINT pk_{TABLE} PRIMARY KEY ({_KEY})\n"
        ") PARTITION BY RANGE (obs_date)"
    )
    op.execute(f"CREATE INDEX ix_{TABLE}_run_id ON {TABLE} (run_id)")
    for suffix, low, high in _bounds(date.today()):
        op.execute(
            f"CREATE TABLE {TABLE}_{suffix} PARTITION OF {TABLE} FOR VALUES FROM ({low}) TO ({high})"
        )
    op.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT")
    _finish(grants)


def downgrade() -> None:
    if _is_hypertable():
        op.execute(f"SELECT remove_compression_policy('{TABLE}', if_exists => true)")
        op.execute(f"SELECT decompress_chunk(c, true) FROM show_chunks('{TABLE}') c")  # noqa: S608
        op.execute(f"ALTER TABLE {TABLE} SET (timescaledb.compress = false)")
        return
    grants = _set_aside("plain")
    op.execute(
        f"CREATE TABLE {TABLE} ({_COLUMNS},\n    CONSTRAINT pk_{TABLE} PRIMARY KEY ({_KEY})\n)"
    )
    op.execute(f"CREATE INDEX ix_{TABLE}_run_id ON {TABLE} (run_id)")
    _finish(grants)
