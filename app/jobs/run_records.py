"""A run's record while it runs: its heartbeat and its outcome. The leader's executor and
`python -m app.runner` both keep their runs' records through these, so a hand run shows in
`/runs` and health like a scheduled one, and a dead runner's run is abandoned like a dead
leader's (app.jobs.recovery)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import RunStatus
from app.db.repositories import runs as run_repo
from app.jobs.context import RunCounters


async def keep_alive(
    sessionmaker: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    *,
    every: float,
    counters: RunCounters,
    on_stop: Callable[[str], None],
) -> None:
    """Write the run's heartbeat and progress every `every` seconds until cancelled; call
    `on_stop` with the reason once the record says the run must stop (cancelled by an
    operator, or abandoned meanwhile)."""
    while True:
        await asyncio.sleep(every)
        stop = None
        with contextlib.suppress(Exception):  # a missed beat is retried; never kill the run
            async with sessionmaker() as session, session.begin():
                stop = await run_repo.heartbeat(
                    session, run_id, progress=counters.progress, counts=_counts(counters)
                )
        if stop is not None:
            on_stop(stop)


async def record_outcome(
    session: AsyncSession,
    run_id: uuid.UUID,
    *,
    status: RunStatus,
    error: str | None,
    counters: RunCounters,
) -> None:
    """The run's status, error and counters (requests made count failed attempts too)."""
    await run_repo.finish(
        session, run_id, status=status, error_summary=error, progress=counters.progress,
        **_counts(counters),
    )  # fmt: skip


def _counts(counters: RunCounters) -> dict[str, int]:
    return {
        "rows_new": counters.rows_new,
        "rows_changed": counters.rows_changed,
        "rows_rejected": counters.rows_rejected,
        "requests_used": counters.requests_used,
    }
