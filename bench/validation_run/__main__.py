"""`python -m bench.validation_run`: every provider's sandbox data collected into PostgreSQL,
then one validation run per provider (shared suite + the provider's, Great Expectations on
the SQL datasource, in a worker thread, result stored). Reference, in the same run and on the
same rows: reading the provider's rows once with psycopg. Prints seconds, rows and ratios,
and the cost of importing GE in a fresh process (paid by a process's first run).

`--history-rows N` measures instead the validation after a ~1,500-row ingest against N rows of
history and against a small one (bench/validation_run/history.py)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import click
import psycopg
from sqlalchemy import text

from app.db.engine import libpq_url
from app.db.repositories import validation_results
from app.main import create_app
from app.quality.engine import batch_query
from app.quality.service import run_validation
from app.resources import Resources
from app.settings import ProviderMode, Settings
from bench.api_overhead.dependencies import dependencies
from bench.validation_run.history import measure_history

PROVIDERS = ("fred", "eia", "noaa", "worldbank")


def progress(message: str) -> None:
    click.echo(f"[validation_run] {message}", err=True)


def _import_seconds() -> float:
    code = (
        "import time; t = time.perf_counter(); import great_expectations; "
        "print(time.perf_counter() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


async def _wait_for_collection(
    resources: Resources, tenant: str, limit_seconds: float
) -> dict[str, int]:
    """Rows per provider once every provider has rows and the totals stopped moving."""
    deadline, last = time.monotonic() + limit_seconds, -1
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        await asyncio.sleep(5)
        async with resources.sessionmaker() as session:
            found = await session.execute(
                text(
                    "SELECT provider, count(*) FROM external_timeseries_obs "
                    "WHERE tenant_id = :t GROUP BY 1"
                ),
                {"t": tenant},
            )
        counts = {str(p): int(n) for p, n in found.all()}
        total = sum(counts.values())
        progress(f"collected {counts}")
        if set(counts) == set(PROVIDERS) and total == last:
            return counts
        last = total
    raise click.ClickException(
        f"sandbox collection did not settle in {limit_seconds:.0f}s: {counts}"
    )


def _read_rows(database_url: str, provider: str, tenant: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(batch_query(provider, tenant)).fetchall()  # type: ignore[arg-type]
    return time.perf_counter() - started


async def _bench(database_url: str, redis_url: str) -> None:
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        tenant_id=tenant,
        provider_mode=ProviderMode.SANDBOX,
        sandbox_collect_interval_seconds=86_400,  # collect once, at start
        migrate_on_start=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        resources: Resources = app.state.resources
        counts = await _wait_for_collection(resources, tenant, 600)
        click.echo("validation_run  sandbox data, one tenant  (seconds; ratio = run / read)")
        click.echo(f"  import great_expectations, fresh process: {_import_seconds():6.2f}")
        for index, provider in enumerate(PROVIDERS):
            started = time.perf_counter()
            result_id = await run_validation(resources, provider, trigger="manual")
            run = time.perf_counter() - started
            read = _read_rows(database_url, provider, tenant)
            async with resources.sessionmaker() as session:
                stored = await validation_results.get(session, result_id)
            assert stored is not None
            note = "  (first run: includes the GE import)" if index == 0 else ""
            click.echo(
                f"  {provider:<9} rows={counts[provider]:>6,}  expectations={stored.evaluated:>3}  "
                f"run={run:6.2f}  read={read:6.3f}  ratio={run / read:7.1f}  "
                f"status={stored.status} score={stored.quality_score}{note}"
            )
        async with resources.sessionmaker() as session, session.begin():
            await session.execute(
                text("DELETE FROM external_timeseries_obs WHERE tenant_id = :t"), {"t": tenant}
            )
            await session.execute(
                text("DELETE FROM validation_results WHERE tenant_id = :t"), {"t": tenant}
            )


def _settings(database_url: str, redis_url: str, tenant: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        tenant_id=tenant,
        provider_mode=ProviderMode.SANDBOX,
        sandbox_collect_interval_seconds=0,  # no collection: the bench writes the rows
        scheduler_enabled=False,  # no hourly full-history run in the middle of a measure
        migrate_on_start=False,
        _env_file=None,  # type: ignore[call-arg]
    )


async def _history_bench(database_url: str, redis_url: str, rows: int, full: bool) -> None:
    @contextlib.asynccontextmanager
    async def service_for(tenant: str) -> AsyncIterator[Resources]:
        app = create_app(_settings(database_url, redis_url, tenant))
        async with app.router.lifespan_context(app):
            yield app.state.resources

    await measure_history(service_for, rows, full=full)


@click.command()
@click.option(
    "--history-rows",
    type=click.IntRange(1_000),
    default=None,
    help="Measure the post-ingest validation against this many rows of history (and a small "
    "one, for the ratio) instead of the sandbox's data.",
)
@click.option(
    "--full/--no-full", default=True, help="With --history-rows: time the full-history job too."
)
def main(history_rows: int | None, full: bool) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="aurum-bench-") as workdir,
        dependencies(Path(workdir)) as deps,
    ):
        if history_rows is None:
            asyncio.run(_bench(deps.database_url, deps.redis_url))
        else:
            asyncio.run(_history_bench(deps.database_url, deps.redis_url, history_rows, full))


if __name__ == "__main__":
    main()
