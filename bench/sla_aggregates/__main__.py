"""SLA 30d and the health overview at N series x D days: the aggregates' path vs the old one.

One command: `python -m bench.sla_aggregates` (see README.md). It builds its own database
(embedded PostgreSQL and Redis unless AURUM_DATABASE_URL / AURUM_REDIS_URL are set): N
synthetic daily FRED series of D days each (bench/scale's generator, plain SQL), the monthly
stats filled by 0011's statement (timed), and a month of hourly ingest runs with per-dataset
progress. Then, in the same run:

- in process, one request's database work and Python for FRED: the old SLA figures
  (tests/health/sla_reference.py: every observation date of the window, every run's
  progress) vs the new ones (app/health/sla_datasets.py), checked equal; the old health
  series read (every checkpoint and catalog row) vs the new one (configured datasets only);
  and a bare `SELECT 1` round-trip as the floor;
- over HTTP against `python -m app serve` with its caches off: SLA 30d and health, one
  request at a time and with 8 concurrent clients (bench/scale's measures).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.engine import async_url, build_sessionmaker, libpq_url
from app.db.repositories import health_reads
from app.health import sla_datasets
from app.providers.config import load_provider_config, resolve_config_path
from app.settings import Settings
from bench.api_overhead.dependencies import BenchError, Dependencies, admin_api_key, dependencies
from bench.api_overhead.servers import real_server
from bench.scale import endpoints
from bench.scale.measure import OVERRIDES
from bench.scale.shapes import PROVIDER, TENANT, Shape, grow
from bench.sla_aggregates.old_paths import old_series_state
from tests.health import sla_reference

REPEATS = 5
_BACKFILL = (
    "INSERT INTO external_series_monthly_stats (tenant_id, provider, series_id, month,"
    " observation_count, day_mask, first_date, last_date, last_updated_at)"
    " SELECT tenant_id, provider, series_id, date_trunc('month', obs_date)::date, count(*),"
    " bit_or(1 << (extract(day FROM obs_date)::int - 1)), min(obs_date), max(obs_date),"
    " max(coalesce(updated_at, ingested_at)) FROM external_timeseries_obs"
    " GROUP BY 1, 2, 3, 4 ON CONFLICT DO NOTHING"
)


def progress(message: str) -> None:
    print(f"[sla_aggregates] {message}", file=sys.stderr, flush=True)


def _build(
    deps: Dependencies, series: int, days: int, configured: list[str], names: list[str]
) -> dict[str, Any]:
    with psycopg.connect(libpq_url(deps.database_url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO providers (name, display_name, enabled, mode, base_url)"
            " SELECT p, p, true, 'live', '' FROM unnest(%s::text[]) p ON CONFLICT DO NOTHING",
            (names,),
        )
        # The configured FRED series too (what the SLA's datasets show), one day in 17 missing.
        conn.execute(
            "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date,"
            " period_label, value) SELECT %s, %s, s, current_date - i, '', i"
            " FROM unnest(%s::text[]) s, generate_series(0, %s::int - 1) i WHERE i %% 17 <> 5",
            (TENANT, PROVIDER, configured, days),
        )
    grow(deps.database_url, Shape("bench", series=series, rows=series * days))
    with psycopg.connect(libpq_url(deps.database_url), autocommit=True) as conn:
        progress("filling the monthly stats (0011's statement)")
        started = time.perf_counter()
        conn.execute(_BACKFILL)
        backfill_s = time.perf_counter() - started
        progress("a month of hourly ingest runs with per-dataset progress")
        done = {s: {"status": "done", "rows": 1} for s in configured}
        first = {s: {"status": "failed" if i == 0 else "done"} for i, s in enumerate(configured)}
        conn.execute(
            "INSERT INTO job_runs (id, job_id, provider, trigger, parameters, status, created_at,"
            " started_at, finished_at, progress, unfinished_datasets)"
            " SELECT gen_random_uuid(), %(job)s, %(p)s, 'scheduled', '{}', 'succeeded', s, s,"
            " s + interval '2 minutes',"
            " CASE WHEN extract(hour FROM s) = 3 THEN %(first)s::jsonb ELSE %(done)s::jsonb END,"
            " CASE WHEN extract(hour FROM s) = 3 THEN %(left)s::text[] ELSE '{}'::text[] END"
            " FROM generate_series(now() - interval '31 days', now() - interval '1 hour',"
            " interval '1 hour') s",
            {"job": f"ingest.{PROVIDER}", "p": PROVIDER, "done": json.dumps(done),
             "first": json.dumps(first), "left": configured[:1]},
        )  # fmt: skip
        conn.execute("ANALYZE")
    return {"stats_backfill_s": round(backfill_s, 2)}


async def _median_ms(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    result = await call()  # warm-up
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = await call()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1), result


async def _in_process(database_url: str, section: Any, names: list[str]) -> dict[str, Any]:
    engine = create_async_engine(async_url(database_url), pool_size=2)
    sessionmaker = build_sessionmaker(engine)
    now = datetime.now(UTC)
    args = {"tenant_id": TENANT, "name": PROVIDER, "section": section,
            "start": now - timedelta(days=30), "now": now}  # fmt: skip
    configured = [(PROVIDER, str(e.get("series_id") or e.get("id"))) for e in section.datasets]

    async def run(call: Callable[..., Awaitable[Any]], *extra: Any) -> Any:
        async with sessionmaker() as session:
            return await call(session, *extra)

    try:
        floor, _ = await _median_ms(lambda: run(lambda s: s.execute(text("SELECT 1"))))
        progress("SLA figures, old path (every observation of the window)")
        old_ms, old = await _median_ms(
            lambda: run(lambda s: sla_reference.provider_figures(s, **args))
        )
        progress("SLA figures, new path (monthly stats)")
        new_ms, new = await _median_ms(
            lambda: run(lambda s: sla_datasets.provider_figures(s, **args))
        )
        jobs = [f"ingest.{n}" for n in names]
        old_h, _ = await _median_ms(lambda: run(lambda s: old_series_state(s, TENANT)))
        new_h, _ = await _median_ms(
            lambda: run(
                lambda s: health_reads.snapshot(s, jobs=jobs, tenant_id=TENANT, datasets=configured)
            )
        )
    finally:
        await engine.dispose()
    return {
        "select_1_ms": floor,
        "sla_fred_old_ms": old_ms,
        "sla_fred_new_ms": new_ms,
        "sla_speedup": round(old_ms / new_ms, 1) if new_ms else None,
        "sla_figures_equal": old == new,
        "health_series_old_ms": old_h,
        "health_snapshot_new_ms": new_h,
    }


def _http(workdir: Path, deps: Dependencies, clients: int, duration: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with admin_api_key(deps) as key, real_server(workdir, deps, OVERRIDES, label="sla") as server:
        for name, path in (("sla_30d", endpoints.SLA), ("health", endpoints.HEALTH)):
            result = endpoints.endpoint(server.port, key, path, clients, duration)
            m = result.concurrent.measured
            out |= {
                f"{name}_single_ms": round(result.single, 1)
                if isinstance(result.single, float)
                else result.single,
                f"{name}_{clients}_clients_p50_ms": m.p50_ms if m else None,
                f"{name}_{clients}_clients_answered": result.concurrent.answered,
            }
    return out


@click.command()
@click.option("--series", default=2_000, show_default=True, help="synthetic daily series")
@click.option("--days", default=1_000, show_default=True, help="days of each series")
@click.option("--clients", default=8, show_default=True)
@click.option("--duration", default=10, show_default=True, help="seconds of concurrent load")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="the embedded servers' directory (default: a temporary one)",
)
def main(series: int, days: int, clients: int, duration: int, data_dir: Path | None) -> None:
    """SLA 30d and health overview: the aggregates' path vs the old one, same run."""
    config = load_provider_config(resolve_config_path(Settings().provider_config_path))
    section = config.providers[PROVIDER]
    configured = [str(e.get("series_id") or e.get("id")) for e in section.datasets]
    names = sorted(config.providers)
    figures: dict[str, Any] = {"series": series, "days": days, "rows": series * days}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sla-aggregates-") as tmp:
        workdir = data_dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            with dependencies(workdir) as deps:
                figures |= _build(deps, series, days, configured, names)
                figures |= asyncio.run(_in_process(deps.database_url, section, names))
                figures |= _http(workdir, deps, clients, duration)
        except BenchError as exc:
            progress(f"cannot measure: {exc}")
            sys.exit(1)
    figures["whole_run_s"] = round(time.monotonic() - started)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        click.echo(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
