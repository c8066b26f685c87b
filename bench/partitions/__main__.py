"""`python -m bench.partitions`: retention of the same N observations two ways, in one run.

Reference: the retention the service had before the table was partitioned, a chunked
`DELETE ... WHERE ctid = ANY(...)` of 10,000 rows per transaction on a plain table (same
columns, key and index), followed by the VACUUM that makes the space reusable. Ours: the
partitioned table from migration 0012, where retention detaches and drops the partitions
wholly before the horizon (app/db/repositories/observation_partitions.py). Both tables hold
the same rows; the horizon (2004-01-01) falls on a partition bound, so every row before it
goes with a dropped partition. Prints seconds, rows and the ratio.

Always on an embedded PostgreSQL in a temporary directory (never AURUM_DATABASE_URL): the
benchmark drops partitions of the observations table.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import click
import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import migrate
from app.db.engine import async_url, build_sessionmaker, libpq_url
from app.db.repositories import observation_partitions as repo
from app.embedded.postgres import start_embedded_postgres

CUTOFF = date(2004, 1, 1)
FIRST_DAY = date(1990, 1, 1)
DAYS = 10_000
CHUNK = 10_000
PLAIN = "bench_obs_plain"
_DELETE_CHUNK = text(
    f"DELETE FROM {PLAIN} WHERE ctid = ANY(ARRAY("  # noqa: S608 - a constant
    f"SELECT ctid FROM {PLAIN} WHERE obs_date < :cutoff LIMIT :chunk))"
)


def progress(message: str) -> None:
    click.echo(f"[partitions] {message}", err=True)


def _fill(database_url: str, rows: int) -> int:
    """`rows` daily observations from 1990 to 2017 (DAYS each, so none is in DEFAULT and
    about half is before the horizon at any size); the rows before the horizon."""
    series = max(1, rows // DAYS)
    days = rows // series
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date, "
            "period_label, value, raw_value, units) "
            "SELECT 'bench', 'fred', 'S' || s, %s::date + d, 'p', d, d::text, 'Index' "
            "FROM generate_series(1, %s) s, generate_series(0, %s - 1) d",
            (FIRST_DAY, series, days),
        )
        conn.execute(
            f"CREATE TABLE {PLAIN} (LIKE external_timeseries_obs INCLUDING DEFAULTS, "
            f"PRIMARY KEY (tenant_id, provider, series_id, obs_date))"
        )
        conn.execute(f"CREATE INDEX ON {PLAIN} (run_id)")
        conn.execute(f"INSERT INTO {PLAIN} SELECT * FROM external_timeseries_obs")  # noqa: S608
        conn.execute("VACUUM ANALYZE")
        old = conn.execute(
            "SELECT count(*) FROM external_timeseries_obs WHERE obs_date < %s", (CUTOFF,)
        ).fetchone()
    return int(old[0]) if old else 0


async def _delete_rows(database_url: str) -> tuple[float, float, int]:
    """The reference: chunked DELETE, then VACUUM; (delete s, vacuum s, rows)."""
    engine = create_async_engine(async_url(database_url))
    sessionmaker = build_sessionmaker(engine)
    deleted = 0
    started = time.perf_counter()
    try:
        while True:
            async with sessionmaker() as session, session.begin():
                result = await session.execute(_DELETE_CHUNK, {"cutoff": CUTOFF, "chunk": CHUNK})
            count = int(getattr(result, "rowcount", 0) or 0)
            deleted += count
            if count < CHUNK:
                break
    finally:
        await engine.dispose()
    deleting = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(f"VACUUM {PLAIN}")
    return deleting, time.perf_counter() - started, deleted


async def _drop_partitions(database_url: str) -> tuple[float, list[str]]:
    """Ours: every partition wholly before the horizon detached and dropped, each in its own
    transaction under the lock timeout, as maintenance.retention does."""
    engine = create_async_engine(async_url(database_url))
    sessionmaker = build_sessionmaker(engine)
    started = time.perf_counter()
    dropped: list[str] = []
    try:
        async with sessionmaker() as session:
            parts = await repo.list_partitions(session)
        for part in parts:
            if part.older_than(CUTOFF):
                async with sessionmaker() as session, session.begin():
                    await repo.drop(session, part.name, lock_timeout_seconds=2.0)
                dropped.append(part.name)
    finally:
        await engine.dispose()
    return time.perf_counter() - started, dropped


def _remaining(database_url: str) -> tuple[int, int]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        counts = []
        for table in ("external_timeseries_obs", PLAIN):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            counts.append(int(row[0]) if row else 0)
    return counts[0], counts[1]


@click.command()
@click.option("--rows", default=2_000_000, show_default=True, help="observations per table")
def main(rows: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="aurum-bench-partitions-"))
    # Registered first, so it runs last at exit: after the embedded PostgreSQL (stopped and
    # deleted by its own exit hook; a server whose directory vanished cannot be stopped).
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    progress("starting embedded PostgreSQL")
    database_url = start_embedded_postgres(workdir / "postgres", delete_on_exit=True)
    migrate.upgrade(database_url)
    progress(f"filling both tables with {rows:,} rows")
    old = _fill(database_url, rows)
    progress(f"{old:,} rows before {CUTOFF} in each; row DELETE (reference)")
    deleting, vacuuming, deleted = asyncio.run(_delete_rows(database_url))
    progress("DROP of the old partitions")
    dropping, dropped = asyncio.run(_drop_partitions(database_url))
    partitioned_left, plain_left = _remaining(database_url)
    if deleted != old or partitioned_left != plain_left:
        raise click.ClickException(
            f"the two paths disagree: deleted {deleted:,} of {old:,}; "
            f"left {partitioned_left:,} partitioned vs {plain_left:,} plain"
        )
    click.echo(f"rows per table: {rows:,} ({rows // DAYS:,} series, daily from {FIRST_DAY})")
    click.echo(f"rows before the horizon {CUTOFF}: {old:,}; left after: {plain_left:,}")
    click.echo(f"row DELETE (10,000 per transaction): {deleting:8.3f} s")
    click.echo(f"  + VACUUM of the plain table:       {vacuuming:8.3f} s")
    click.echo(f"DROP of {len(dropped)} partitions:              {dropping:8.3f} s")
    click.echo(f"ratio DELETE / DROP:                 {deleting / dropping:8.1f}x")
    click.echo(f"ratio DELETE+VACUUM / DROP:          {(deleting + vacuuming) / dropping:8.1f}x")


if __name__ == "__main__":
    main()
