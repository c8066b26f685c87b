"""`python -m bench.read_replica`: a real streaming replica of the embedded PostgreSQL, its
replication lag under an ingest load, and the read API's uncached page from two servers in
the same run: one reading the primary, one reading the replica (AURUM_DATABASE_READ_URL).

The servers take turns (primary, replica, primary, replica...) so drift of a shared machine
falls on both; first without ingest, then with the ingest load writing to the primary."""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import shutil
import signal
import statistics
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import FrameType

import click
import psycopg

from app.db.engine import libpq_url
from bench.api_overhead.dependencies import BenchError, admin_api_key, dependencies
from bench.api_overhead.drivers import LOADGENS, Load, choose_driver
from bench.api_overhead.report import Measurement
from bench.api_overhead.servers import Server, http_get, real_server
from bench.read_replica.load import IngestLoad, LagSampler, LagSamples
from tests.support.streaming_replica import StreamingReplica, unavailable_reason

SERIES = "BENCHREPL"
PATH = f"/v1/external/series/fred/{SERIES}/observations?limit=100"


def progress(message: str) -> None:
    print(f"[read_replica] {message}", file=sys.stderr, flush=True)


@dataclass
class Phase:
    server: str  # primary | replica
    ingest: bool
    reads: Measurement
    ingest_rows_per_s: float = 0.0


def _seed(database_url: str, rows: int = 400) -> None:
    first = date(2000, 1, 1)
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO providers (name, display_name, enabled, mode, base_url) "
            "VALUES ('fred', 'FRED', true, 'live', '') ON CONFLICT DO NOTHING"
        )
        conn.execute(
            "INSERT INTO datasets (provider, series_id, title, frequency, enabled, attributes) "
            "VALUES ('fred', %s, 'Benchmark series', 'Daily', true, '{}') ON CONFLICT DO NOTHING",
            (SERIES,),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO external_timeseries_obs (tenant_id, provider, series_id, obs_date, "
                "period_label, value, raw_value, units, metadata) VALUES "
                "('default', 'fred', %s, %s, %s, %s, %s, 'Percent', '{}') ON CONFLICT DO NOTHING",
                [
                    (SERIES, first + timedelta(days=i), str(first + timedelta(days=i)),
                     i / 7, str(i / 7))
                    for i in range(rows)
                ],
            )  # fmt: skip


def _metric(server: Server, name: str) -> float | None:
    """Sum of a metric's samples on `server`'s /metrics (None when it has none)."""
    text = http_get(server.port, "/metrics").body.decode()
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    values = pattern.findall(text)
    return sum(float(value) for value in values) if values else None


def run(duration: int, connections: int, warmup: int, rounds: int, loadgen: str) -> None:
    driver = choose_driver(loadgen)
    workdir = Path(tempfile.mkdtemp(prefix="aurum-bench-read-replica-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    with contextlib.ExitStack() as stack:
        deps = stack.enter_context(dependencies(workdir))
        reason = unavailable_reason(None if deps.embedded_database else deps.database_url)
        if reason is not None:
            raise BenchError(reason)
        _seed(deps.database_url)
        progress("building the streaming replica (pg_basebackup -R)")
        replica = StreamingReplica(deps.database_url, workdir / "replica").build()
        stack.callback(replica.stop)
        key = stack.enter_context(admin_api_key(deps))
        servers = {
            "primary": stack.enter_context(real_server(workdir, deps, label="primary")),
            "replica": stack.enter_context(
                real_server(
                    workdir, deps, {"AURUM_DATABASE_READ_URL": replica.url}, label="replica"
                )
            ),
        }
        headers = {"X-API-Key": key}
        for name, server in servers.items():
            page = http_get(server.port, PATH, headers)
            if page.status != 200 or len(json.loads(page.body)["observations"]) != 100:
                raise BenchError(f"the {name} server answered {page.status}: {page.body[:200]!r}")
        if _metric(servers["replica"], "aurum_db_replica_lag_seconds") is None:
            raise BenchError("the replica server never checked its replica")

        def measure(name: str) -> Measurement:
            load = Load(servers[name].port, PATH, headers, connections, duration, warmup)
            result = driver.measure(load)
            progress(f"  {name}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms")
            return result

        phases: list[Phase] = []
        progress("reads without ingest")
        for _ in range(rounds):
            phases += [Phase(name, False, measure(name)) for name in servers]
        progress("reads while the ingest load writes to the primary")
        ingest = IngestLoad(deps.database_url)
        sampler = LagSampler(deps.database_url, replica.url)
        fell_back = _metric(servers["replica"], "aurum_db_read_fallback_total") or 0.0
        sampler.start()
        ingest.start()
        try:
            for _ in range(rounds):
                for name in servers:
                    before = ingest.rows
                    reads = measure(name)
                    rate = (ingest.rows - before) / (duration + warmup)
                    phases.append(Phase(name, True, reads, rate))
        finally:
            ingest.stop()
            sampler.stop()
        if ingest.error is not None:
            raise BenchError(f"the ingest load failed: {ingest.error}")
        after = _metric(servers["replica"], "aurum_db_read_fallback_total") or 0.0
        fell_back = after - fell_back
        _report(driver.name, connections, phases, sampler.samples, ingest.rows, fell_back)


def _mean(phases: list[Phase], server: str, ingest: bool) -> tuple[float, float, float]:
    """(req/s, p99 ms, ingest rows/s) averaged over the rounds of one server and load."""
    chosen = [p for p in phases if p.server == server and p.ingest is ingest]
    return (
        statistics.fmean(p.reads.rps for p in chosen),
        statistics.fmean(p.reads.p99_ms for p in chosen),
        statistics.fmean(p.ingest_rows_per_s for p in chosen),
    )


def _report(
    loadgen: str, connections: int, phases: list[Phase], lag: LagSamples, rows: int,
    fell_back: float,
) -> None:  # fmt: skip
    print("bench/read_replica: uncached 100-row observations page, one uvicorn worker per")
    print(f"  server, {connections} keep-alive connections, load generator {loadgen}")
    for ingest in (False, True):
        p_rps, p_p99, p_rows = _mean(phases, "primary", ingest)
        r_rps, r_p99, r_rows = _mean(phases, "replica", ingest)
        title = "with ingest load" if ingest else "no ingest load  "
        print(f"  {title}  reads on primary {p_rps:>7,.0f} req/s (p99 {p_p99:.1f} ms)   "
              f"on replica {r_rps:>7,.0f} req/s (p99 {r_p99:.1f} ms)   "
              f"replica/primary {r_rps / p_rps if p_rps else 0:.2f}")  # fmt: skip
        if ingest:
            print(f"  ingest rows/s while reads hit the primary {p_rows:>9,.0f}, "
                  f"the replica {r_rows:>9,.0f}")  # fmt: skip
    for label, values, unit in (
        ("replay lag (pg_stat_replication)", lag.replay_ms, "ms"),
        ("lag as the service sees it     ", lag.service_ms, "ms"),
    ):
        p50, p99, peak = LagSamples.summary(values)
        print(f"  {label}  p50 {p50:8.1f} {unit}  p99 {p99:8.1f} {unit}  peak {peak:8.1f} {unit}"
              f"  ({len(values)} samples)")  # fmt: skip
    p50, p99, peak = LagSamples.summary(lag.behind_bytes)
    print(f"  WAL not yet replayed              p50 {p50 / 1024:8.0f} KiB p99 {p99 / 1024:8.0f} KiB"
          f"  peak {peak / 1024:8.0f} KiB")  # fmt: skip
    print(f"  ingest: {rows:,} rows written; reads the replica server sent to the primary "
          f"during it: {fell_back:.0f}")  # fmt: skip


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--duration", type=click.IntRange(1, 600), default=8, show_default=True)
@click.option("--connections", type=click.IntRange(1, 1000), default=16, show_default=True)
@click.option("--warmup", type=click.IntRange(0, 60), default=1, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 20), default=2, show_default=True)
@click.option("--loadgen", type=click.Choice(LOADGENS), default="auto", show_default=True)
def main(duration: int, connections: int, warmup: int, rounds: int, loadgen: str) -> None:
    """Replication lag under ingest, read API throughput on the primary vs the replica."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run(duration, connections, warmup, rounds, loadgen)
    except BenchError as exc:
        progress(f"cannot measure: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
