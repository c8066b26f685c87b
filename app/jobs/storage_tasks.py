"""Storage jobs on the observations table: partitions created ahead (maintenance.partitions)
and retention by whole partitions (the observations half of maintenance.retention).

Partition DDL locks the parent table, so each DDL runs in its own short transaction under
`AURUM_PARTITION_LOCK_TIMEOUT_SECONDS`; one that times out is given up (the lock is busy, so
the rest of the run's DDL would wait as long) and the next scheduled run retries it.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from app.db.models.observations import OBSERVATIONS_TABLE
from app.db.repositories import observation_partitions as partitions_repo
from app.db.repositories import series_stats
from app.db.repositories.observation_partitions import Layout, LockTimeout, Partition
from app.jobs.context import RunContext, RunCounters

log = logging.getLogger(__name__)

RETENTION_CHUNK = 10_000


def _covered(year: int, parts: list[Partition]) -> bool:
    first, after = date(year, 1, 1), date(year + 1, 1, 1)
    return any(
        not p.is_default
        and (p.lower is None or p.lower <= first)
        and (p.upper is None or p.upper >= after)
        for p in parts
    )


async def partitions(ctx: RunContext) -> RunCounters:
    """Create the yearly partitions of this year and `jobs.partitions_ahead_years` after it,
    and one for every year that has rows in DEFAULT (moving them out), oldest first."""
    timeout = ctx.resources.settings.partition_lock_timeout_seconds
    ahead = ctx.resources.providers.config.jobs.partitions_ahead_years
    async with ctx.resources.sessionmaker() as session:
        layout = await partitions_repo.layout(session)
        if layout is not Layout.PARTITIONED:
            log.info("observations table is %s: no partitions to maintain", layout.value)
            ctx.counters.skipped_reason = f"observations table is {layout.value}, not partitioned"
            return ctx.counters
        parts = await partitions_repo.list_partitions(session)
        in_default = await partitions_repo.default_years(session)
    this_year = date.today().year
    years = {*range(this_year, this_year + ahead + 1), *in_default}
    wanted = sorted(y for y in years if not _covered(y, parts))
    created: list[int] = []
    skipped: list[int] = []
    moved = 0
    for index, year in enumerate(wanted):
        try:
            async with ctx.resources.sessionmaker() as session, session.begin():
                moved += await partitions_repo.create_year(
                    session, year, lock_timeout_seconds=timeout
                )
        except LockTimeout:
            skipped = wanted[index:]
            log.warning(
                "partition %s not created: no lock on %s within %ss; the next run retries",
                year,
                OBSERVATIONS_TABLE,
                timeout,
            )
            break
        created.append(year)
        ctx.checkpoint()
    ctx.counters.progress = {"created": created, "rows_moved": moved, "skipped": skipped}
    if skipped and not created:
        ctx.counters.skipped_reason = (
            f"lock on {OBSERVATIONS_TABLE} not granted within {timeout}s; retried next run"
        )
    return ctx.counters


async def expire_observations(ctx: RunContext, cutoff: date) -> dict[str, Any]:
    """Drop the partitions wholly before `cutoff`; delete the rows before it from the
    partitions that straddle it (and DEFAULT), a chunk per transaction."""
    timeout = ctx.resources.settings.partition_lock_timeout_seconds
    async with ctx.resources.sessionmaker() as session:
        layout = await partitions_repo.layout(session)
        parts = (
            await partitions_repo.list_partitions(session) if layout is Layout.PARTITIONED else []
        )
    dropped: list[str] = []
    skipped: list[str] = []
    chunks = 0
    if layout is Layout.HYPERTABLE:
        async with ctx.resources.sessionmaker() as session, session.begin():
            chunks = await partitions_repo.drop_hypertable_chunks(session, cutoff)
    old = [p for p in parts if p.older_than(cutoff)]
    for index, part in enumerate(old):
        try:
            async with ctx.resources.sessionmaker() as session, session.begin():
                await partitions_repo.drop(session, part.name, lock_timeout_seconds=timeout)
                assert part.upper is not None  # older_than: a bounded partition
                await series_stats.forget_range(session, part.lower, part.upper)
        except LockTimeout:
            skipped = [p.name for p in old[index:]]
            log.warning(
                "partition %s not dropped: no lock on %s within %ss; the next run retries",
                part.name,
                OBSERVATIONS_TABLE,
                timeout,
            )
            break
        log.info("dropped observations partition %s (wholly before %s)", part.name, cutoff)
        dropped.append(part.name)
        ctx.checkpoint()
    # A hypertable's chunks are not listed: its rows are deleted through the parent, where
    # a ctid may match in several chunks; the date condition keeps that to rows past the
    # cutoff anyway.
    tables = (
        [p.name for p in parts if p.overlaps_before(cutoff)]
        if layout is Layout.PARTITIONED
        else [OBSERVATIONS_TABLE]
    )
    deleted = 0
    for table in tables:
        statement = partitions_repo.delete_before(table)
        deleted += await _delete_with_stats(ctx, statement, cutoff)
    return {
        "layout": layout.value,
        "dropped_partitions": dropped,
        "partitions_skipped": skipped,
        "dropped_chunks": chunks,
        "deleted": deleted,
    }


async def _delete_with_stats(ctx: RunContext, statement: Any, cutoff: date) -> int:
    """partitions_repo.delete_before, a chunk per transaction, each recomputing the monthly
    stats of the months it thinned in its own transaction."""
    deleted = 0
    while True:
        async with ctx.resources.sessionmaker() as session, session.begin():
            params = {"cutoff": cutoff, "chunk": RETENTION_CHUNK}
            months = (await session.execute(statement, params)).all()
            await series_stats.refresh(session, ((t, p, s, m) for t, p, s, m, _ in months))
        count = sum(int(row[4]) for row in months)
        deleted += count
        ctx.checkpoint()
        if count < RETENTION_CHUNK:
            return deleted


async def delete_in_chunks(ctx: RunContext, statement: Any, params: dict[str, Any]) -> int:
    """Run a chunked DELETE (`:chunk` rows at most) until it deletes less than a chunk, one
    transaction per chunk, so no statement holds its locks for long on a big table."""
    deleted = 0
    while True:
        async with ctx.resources.sessionmaker() as session, session.begin():
            result = await session.execute(statement, {**params, "chunk": RETENTION_CHUNK})
        count = int(getattr(result, "rowcount", 0) or 0)
        deleted += count
        ctx.checkpoint()
        if count < RETENTION_CHUNK:
            return deleted
