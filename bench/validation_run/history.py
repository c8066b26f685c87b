"""`python -m bench.validation_run --history-rows N`: the validation that follows an ingest,
against a small history and against N rows of history, in one invocation. Each history is
FRED-shaped (daily series of 1,000 rows, written in SQL); then one ~1,500-row ingest run goes
through the real pipeline and its validation (scope `run`) is timed with the process's peak
RSS while it runs. The ratio large / small shows whether the post-ingest validation follows
the run's size or the history's. With `--full`, the full-history job's run is measured too."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import click
from sqlalchemy import text

from app.db.repositories import validation_results
from app.ingest.pipeline import ingest_batch
from app.ingest.rows import RawObservation
from app.quality.service import run_validation
from app.resources import Resources

T = TypeVar("T")
ROWS_PER_SERIES = 1_000
FIRST_DAY = date(2000, 1, 3)
SMALL_HISTORY = 20_000
RUN_SERIES, RUN_DAYS = 300, 5  # the ingest: 5 new days of 300 series


def progress(message: str) -> None:
    click.echo(f"[validation_run] {message}", err=True)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def peak_rss() -> Iterator[list[float]]:
    """The process's peak resident memory (MB) while the block runs, sampled every 10 ms
    (ru_maxrss cannot be reset between two measurements of one process)."""
    peak = [_rss_mb()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], _rss_mb())


@dataclass(frozen=True)
class Figure:
    history: int
    rows: int
    seconds: float
    peak_mb: float
    status: str
    evaluated: int


async def _timed(
    resources: Resources, history: int, call: Callable[[], Awaitable[uuid.UUID]]
) -> Figure:
    with peak_rss() as peak:
        started = time.perf_counter()
        result_id = await call()
        seconds = time.perf_counter() - started
    async with resources.sessionmaker() as session:
        stored = await validation_results.get(session, result_id)
    assert stored is not None
    status = (
        stored.status
        if stored.status != "completed"
        else ("passed" if stored.success else "failed")
    )
    return Figure(history, int(stored.row_count or 0), seconds, peak[0], status, stored.evaluated)


async def _build_history(resources: Resources, tenant: str, rows: int) -> int:
    series = max(1, rows // ROWS_PER_SERIES)
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(text("SET LOCAL statement_timeout = 0"))
        await session.execute(
            text(
                "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date, "
                "period_label, value, raw_value, units, run_id) "
                "SELECT :tenant, 'fred', 'H' || s, CAST(:first AS date) + i, "
                "to_char(CAST(:first AS date) + i, 'YYYY-MM-DD'), 1 + s % 7, (1 + s % 7)::text, "
                "'Percent', :run FROM generate_series(1, :series) AS s, "
                "generate_series(0, :per - 1) AS i"
            ),
            {"tenant": tenant, "first": FIRST_DAY, "series": series,
             "per": ROWS_PER_SERIES, "run": uuid.uuid4()},
        )  # fmt: skip
        await session.execute(text("ANALYZE external_timeseries_obs"))
    return series * ROWS_PER_SERIES


async def _ingest(resources: Resources, tenant: str) -> uuid.UUID:
    """One run's rows: the next RUN_DAYS days of RUN_SERIES series, through the pipeline."""
    run_id = uuid.uuid4()
    start = FIRST_DAY + timedelta(days=ROWS_PER_SERIES)
    rows = [
        RawObservation(
            series_id=f"H{s}", obs_date=start + timedelta(days=d),
            period_label=(start + timedelta(days=d)).isoformat(), value=1.0 + s % 7,
            raw_value=str(1.0 + s % 7), units="Percent", metadata={},
        )
        for s in range(1, RUN_SERIES + 1)
        for d in range(RUN_DAYS)
    ]  # fmt: skip
    async with resources.sessionmaker() as session:
        await ingest_batch(
            session, tenant_id=tenant, provider="fred", rows=rows, run_id=run_id,
            topic="aurum.ref.fred.series.v1", dlq_topic="aurum.ref.fred.series.dlq.v1",
        )  # fmt: skip
        await session.commit()
    return run_id


async def measure_history(
    service_for: Callable[[str], contextlib.AbstractAsyncContextManager[Resources]],
    history_rows: int,
    *,
    full: bool,
) -> None:
    """Both histories, each in a tenant of its own served by `service_for(tenant)`."""
    figures: list[tuple[Figure, Figure | None]] = []
    for index, size in enumerate([SMALL_HISTORY, history_rows]):
        tenant = f"bench{uuid.uuid4().hex[:8]}"
        async with service_for(tenant) as resources:
            try:
                figures.append(
                    await _measure(resources, tenant, size, warm_up=index == 0, full=full)
                )
            finally:
                async with resources.sessionmaker() as session, session.begin():
                    for table in ("external_timeseries_obs", "validation_results"):
                        await session.execute(
                            text(f"DELETE FROM {table} WHERE tenant_id = :t"),  # noqa: S608
                            {"t": tenant},
                        )
            chunk_rows = resources.settings.validation_chunk_rows
    _report(figures, chunk_rows)


async def _measure(
    resources: Resources, tenant: str, size: int, *, warm_up: bool, full: bool
) -> tuple[Figure, Figure | None]:
    progress(f"building {size:,} rows of history")
    built = await _build_history(resources, tenant, size)
    run_id = await _ingest(resources, tenant)
    if warm_up:  # GE's import and context, paid once per process, not measured
        await run_validation(resources, "fred", trigger="ingest", run_id=run_id, scope="run")
        run_id = await _ingest_again(resources, tenant)
    progress(f"validating the ingest run against {built:,} rows of history")
    after_ingest = await _timed(
        resources, built,
        lambda: run_validation(
            resources, "fred", trigger="ingest", run_id=run_id, scope=validation_results.RUN
        ),
    )  # fmt: skip
    whole = None
    if full:
        progress(f"full-history validation of {built:,} rows")
        whole = await _timed(
            resources, built, lambda: run_validation(resources, "fred", trigger="manual")
        )
    return after_ingest, whole


async def _ingest_again(resources: Resources, tenant: str) -> uuid.UUID:
    """A second run over the same keys with changed values (the first one was the warm-up)."""
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(
            text("DELETE FROM external_timeseries_obs WHERE tenant_id = :t AND obs_date >= :d"),
            {"t": tenant, "d": FIRST_DAY + timedelta(days=ROWS_PER_SERIES)},
        )
    return await _ingest(resources, tenant)


def _report(figures: list[tuple[Figure, Figure | None]], chunk_rows: int) -> None:
    click.echo(
        "validation_run --history-rows  post-ingest validation (scope run) vs history size; "
        "ratio = this history / the small one, same invocation"
    )
    base = figures[0][0]
    for after, whole in figures:
        time_ratio, rss_ratio = after.seconds / base.seconds, after.peak_mb / base.peak_mb
        click.echo(
            f"  history={after.history:>11,}  run rows={after.rows:>5,}  expectations="
            f"{after.evaluated:>3}  time={after.seconds:7.2f} s (x{time_ratio:5.2f})"
            f"  peak RSS={after.peak_mb:7.0f} MB (x{rss_ratio:5.2f})  {after.status}"
        )
        if whole is not None:
            click.echo(
                f"      full history (chunks of {chunk_rows:,}): time={whole.seconds:8.2f} s  "
                f"peak RSS={whole.peak_mb:7.0f} MB  {whole.status}"
            )
