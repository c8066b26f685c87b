"""The observations table's partitions: which exist (with their bounds), and the DDL that
creates, fills and drops them.

Every DDL here runs under `SET LOCAL lock_timeout`: a DDL waiting for its lock queues every
later query on the table behind itself, so a long read would otherwise stall ingestion and
the API for as long as it runs. A timeout raises LockTimeout; the caller gives up and the
next scheduled run retries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models.observations import OBSERVATIONS_TABLE

# The partitions the migration and maintenance.partitions create: before 1900, decades,
# years, and DEFAULT.
PARTITION_NAME = re.compile(rf"^{OBSERVATIONS_TABLE}_(history|d\d{{4}}|y\d{{4}}|default)$")
DEFAULT_PARTITION = f"{OBSERVATIONS_TABLE}_default"
_LOCK_NOT_AVAILABLE = "55P03"
_BOUND = re.compile(r"FROM \((MINVALUE|'([0-9-]+)')\) TO \((MAXVALUE|'([0-9-]+)')\)")


class LockTimeout(Exception):
    """A partition DDL did not get its lock within the lock timeout."""


class Layout(StrEnum):
    PARTITIONED = "partitioned"
    HYPERTABLE = "hypertable"
    PLAIN = "plain"


@dataclass(frozen=True)
class Partition:
    name: str
    # None: unbounded (MINVALUE / MAXVALUE), or both for DEFAULT.
    lower: date | None
    upper: date | None
    is_default: bool = False

    def older_than(self, cutoff: date) -> bool:
        """Every row it can hold is before `cutoff`."""
        return not self.is_default and self.upper is not None and self.upper <= cutoff

    def overlaps_before(self, cutoff: date) -> bool:
        """It can hold rows before `cutoff` and rows on or after it."""
        if self.is_default:
            return True
        return (self.lower is None or self.lower < cutoff) and not self.older_than(cutoff)


def is_partition(name: str | None) -> bool:
    """A partition of the observations table (schema comparison leaves these out: the model
    describes the parent)."""
    return name is not None and PARTITION_NAME.match(name) is not None


def year_partition(year: int) -> str:
    return f"{OBSERVATIONS_TABLE}_y{year}"


def _parse(name: str, bound: str) -> Partition:
    if bound.strip() == "DEFAULT":
        return Partition(name, None, None, is_default=True)
    match = _BOUND.search(bound)
    if match is None:
        raise ValueError(f"unexpected partition bound of {name}: {bound}")
    low, high = match.group(2), match.group(4)
    return Partition(
        name,
        date.fromisoformat(low) if low else None,
        date.fromisoformat(high) if high else None,
    )


async def layout(session: AsyncSession) -> Layout:
    relkind = (
        await session.execute(
            text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"),
            {"t": OBSERVATIONS_TABLE},
        )
    ).scalar()
    if relkind == "p":
        return Layout.PARTITIONED
    timescale = (
        await session.execute(
            text("SELECT to_regclass('_timescaledb_catalog.hypertable') IS NOT NULL")
        )
    ).scalar()
    if timescale:
        hyper = await session.execute(
            text("SELECT 1 FROM _timescaledb_catalog.hypertable WHERE table_name = :t"),
            {"t": OBSERVATIONS_TABLE},
        )
        if hyper.first() is not None:
            return Layout.HYPERTABLE
    return Layout.PLAIN


async def list_partitions(session: AsyncSession) -> list[Partition]:
    """Every partition with its bounds, oldest first, DEFAULT last."""
    rows = (
        await session.execute(
            text(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) "
                "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = to_regclass(:t)"
            ),
            {"t": OBSERVATIONS_TABLE},
        )
    ).all()
    parts = [_parse(name, bound) for name, bound in rows]
    return sorted(parts, key=lambda p: (p.is_default, p.lower or date.min))


async def _ddl(session: AsyncSession, lock_timeout_seconds: float, *statements: Any) -> Any:
    """Run statements in the session's transaction under a lock timeout; the last result."""
    await session.execute(
        text("SELECT set_config('lock_timeout', :ms, true)"),
        {"ms": f"{round(lock_timeout_seconds * 1000)}ms"},
    )
    result = None
    try:
        for statement in statements:
            result = await session.execute(statement)
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise LockTimeout(str(exc.orig)) from exc
        raise
    return result


async def create_year(session: AsyncSession, year: int, *, lock_timeout_seconds: float) -> int:
    """Create the partition of `year`, moving its rows out of DEFAULT; the rows moved.

    CREATE TABLE + ATTACH rather than CREATE TABLE .. PARTITION OF: ATTACH takes SHARE UPDATE
    EXCLUSIVE on the parent, which reads and writes do not wait for (only DEFAULT, scanned to
    check it holds no row of the year, is locked exclusively, and it is locked first)."""
    name = year_partition(year)
    low, high = f"'{year}-01-01'", f"'{year + 1}-01-01'"
    rows = f"obs_date >= {low} AND obs_date < {high}"
    moved = await _ddl(
        session,
        lock_timeout_seconds,
        text(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE"),
        text(
            f"CREATE TABLE {name} (LIKE {OBSERVATIONS_TABLE} INCLUDING DEFAULTS "
            f"INCLUDING STORAGE, CONSTRAINT {name}_bound CHECK ({rows}))"
        ),
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE {rows} RETURNING *) "  # noqa: S608 - integers only
            f"INSERT INTO {name} SELECT * FROM moved"
        ),
    )
    count = int(getattr(moved, "rowcount", 0) or 0)
    await _ddl(
        session,
        lock_timeout_seconds,
        text(
            f"ALTER TABLE {OBSERVATIONS_TABLE} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ({low}) TO ({high})"
        ),
        # Served its purpose: ATTACH skipped scanning the new partition.
        text(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bound"),
    )
    return count


async def default_years(session: AsyncSession) -> list[int]:
    """Years that have rows in DEFAULT (their partitions are missing)."""
    query = f"SELECT DISTINCT extract(year FROM obs_date)::int AS y FROM {DEFAULT_PARTITION}"  # noqa: S608
    rows = await session.execute(text(query + " ORDER BY y"))
    return [int(year) for (year,) in rows.all()]


async def drop(session: AsyncSession, name: str, *, lock_timeout_seconds: float) -> None:
    """Detach and drop one partition, with every row in it."""
    if not is_partition(name) or name == DEFAULT_PARTITION:
        raise ValueError(f"not a droppable observations partition: {name}")
    await _ddl(
        session,
        lock_timeout_seconds,
        text(f"ALTER TABLE {OBSERVATIONS_TABLE} DETACH PARTITION {name}"),
        text(f"DROP TABLE {name}"),
    )


def delete_before(table: str) -> Any:
    """One chunk of rows before :cutoff, from one partition (or the plain table): ctid is only
    unique within one physical table. Answers the (tenant, provider, series, month) groups it
    thinned with the rows each lost, so the monthly stats are recomputed in its transaction."""
    if table != OBSERVATIONS_TABLE and not is_partition(table):
        raise ValueError(f"not an observations table: {table}")
    return text(
        f"WITH gone AS (DELETE FROM {table} WHERE obs_date < :cutoff AND ctid = ANY(ARRAY("  # noqa: S608 - checked name
        f"SELECT ctid FROM {table} WHERE obs_date < :cutoff LIMIT :chunk)) "
        "RETURNING tenant_id, provider, series_id, obs_date) "
        "SELECT tenant_id, provider, series_id, date_trunc('month', obs_date)::date, count(*) "
        "FROM gone GROUP BY 1, 2, 3, 4"
    )


async def drop_hypertable_chunks(session: AsyncSession, cutoff: date) -> int:
    """TimescaleDB: drop the chunks wholly before `cutoff`; the number dropped."""
    rows = await session.execute(
        text("SELECT drop_chunks(:t, older_than => :cutoff)"),
        {"t": OBSERVATIONS_TABLE, "cutoff": cutoff},
    )
    return len(rows.all())
