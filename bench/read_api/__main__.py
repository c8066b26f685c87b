"""`python -m bench.read_api`: a 100-row observations page from the real app with the
`external_read_cache` flag on (Redis HIT), against a bare FastAPI app serving the same bytes,
one uvicorn worker each, same run; then the same page with the cache off (PostgreSQL on every
request), the stack's floor (whoami), and a 100-entry catalog page with the cache off against a
bare app serving its bytes. Reuses bench/api_overhead's servers, dependencies and load
generators."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import shutil
import signal
import statistics
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from types import FrameType

import click
import psycopg

from app.db.engine import libpq_url
from bench.api_overhead.dependencies import BenchError, admin_api_key, dependencies
from bench.api_overhead.drivers import LOADGENS, Driver, Load, choose_driver
from bench.api_overhead.report import Measurement
from bench.api_overhead.servers import HOST, bare_server, http_get, real_server, verify_bare

TARGET_RATIO = 0.5
# Uncached pages (c) and (f) against bare: ratio and p99 at the default 32 connections.
TARGET_UNCACHED_RATIO = 0.30
TARGET_UNCACHED_P99_MS = 25.0
SERIES = "BENCH100"
CATALOG = "/v1/external/series?limit=100"
PATH = f"/v1/external/series/fred/{SERIES}/observations?limit=100"
FLAG = "/runtime-config/v1/features/external_read_cache"
WHOAMI = "/v1/admin/whoami"


def progress(message: str) -> None:
    print(f"[read_api] {message}", file=sys.stderr, flush=True)


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
                     round(1 + i / 7, 4), str(round(1 + i / 7, 4)))
                    for i in range(rows)
                ],
            )  # fmt: skip


def _set_cache(port: int, key: str, enabled: bool) -> None:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    body = {"enabled": enabled, "configuration": {"ttl_seconds": 3600}}
    connection.request(
        "POST", f"{FLAG}?wait=true", body=json.dumps(body),
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )  # fmt: skip
    response = connection.getresponse()
    if response.status != 200:
        raise BenchError(f"setting the flag answered {response.status}: {response.read()[:300]!r}")
    connection.close()


def _measure(driver: Driver, label: str, load: Load) -> Measurement:
    progress(f"{label}: {load.connections} connections")
    result = driver.measure(load)
    progress(f"  {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms")
    return result


def run(duration: int, connections: int, warmup: int, loadgen: str) -> None:
    driver = choose_driver(loadgen)
    workdir = Path(tempfile.mkdtemp(prefix="aurum-bench-read-api-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    with contextlib.ExitStack() as stack:
        deps = stack.enter_context(dependencies(workdir))
        _seed(deps.database_url)
        key = stack.enter_context(admin_api_key(deps))
        overrides = {"AURUM_SANDBOX_COLLECT_INTERVAL_SECONDS": "0"}
        real = stack.enter_context(real_server(workdir, deps, overrides, label="real"))
        _set_cache(real.port, key, True)
        headers = {"X-API-Key": key}
        first = http_get(real.port, PATH, headers)
        cached = http_get(real.port, PATH, headers)
        if first.status != 200 or cached.headers.get("x-cache") != "HIT":
            raise BenchError(
                f"(b) answered {cached.status}, X-Cache {cached.headers.get('x-cache')}"
            )
        rows = len(json.loads(cached.body)["observations"])
        bare = stack.enter_context(bare_server(workdir, PATH.split("?")[0], cached.body))
        verify_bare(bare, PATH.split("?")[0], cached.body)
        progress(f"page of {rows} rows, {len(cached.body)} bytes; both servers answer it")

        def load(port: int, path: str) -> Load:
            return Load(port, path, headers, connections, duration, warmup)

        bare_1 = _measure(driver, "bare app (a), run 1", load(bare.port, PATH.split("?")[0]))
        hit = _measure(driver, "real app, cache on (b)", load(real.port, PATH))
        bare_2 = _measure(driver, "bare app (a), run 2", load(bare.port, PATH.split("?")[0]))
        _set_cache(real.port, key, False)
        if http_get(real.port, PATH, headers).headers.get("x-cache") != "MISS":
            raise BenchError("with the flag off (b) should answer X-Cache: MISS")
        uncached = _measure(driver, "real app, cache off (c)", load(real.port, PATH))
        # The stack's own floor: an authenticated route that does no I/O beyond auth and the
        # rate limit (bench/api_overhead's default path), on the same server.
        floor = _measure(driver, "real app, /v1/admin/whoami (d)", load(real.port, WHOAMI))
        # The catalog with the cache still off, against a bare app serving its bytes.
        catalog = http_get(real.port, CATALOG, headers)
        if catalog.status != 200:
            raise BenchError(f"(f) answered {catalog.status}: {catalog.body[:300]!r}")
        (workdir / "catalog").mkdir()
        catalog_path = CATALOG.split("?")[0]
        bare_catalog = stack.enter_context(
            bare_server(workdir / "catalog", catalog_path, catalog.body)
        )
        verify_bare(bare_catalog, catalog_path, catalog.body)
        catalog_bare = _measure(
            driver, "bare app, catalog (e)", load(bare_catalog.port, catalog_path)
        )
        catalog_real = _measure(
            driver, "real app, catalog, cache off (f)", load(real.port, CATALOG)
        )
    _report(
        driver.name, rows, len(cached.body), [bare_1, bare_2], hit, uncached, floor, connections
    )
    _report_uncached(
        statistics.fmean(m.rps for m in (bare_1, bare_2)), uncached, catalog_bare, catalog_real
    )


def _report(
    loadgen: str, rows: int, size: int, bares: list[Measurement], hit: Measurement,
    uncached: Measurement, floor: Measurement, connections: int,
) -> None:  # fmt: skip
    bare = statistics.fmean(m.rps for m in bares)
    ratio = hit.rps / bare if bare else float("nan")
    verdict = "PASS" if ratio >= TARGET_RATIO else "MISS"
    print(f"bench/read_api: {rows}-row observations page ({size} bytes), one uvicorn worker each,")
    print(f"  {connections} keep-alive connections, load generator {loadgen}")
    print(f"  (a) bare FastAPI, same bytes   {bare:>9,.0f} req/s  (runs: "
          f"{', '.join(f'{m.rps:,.0f}' for m in bares)})")  # fmt: skip
    print(f"  (b) real app, cache HIT        {hit.rps:>9,.0f} req/s  p50 {hit.p50_ms:.1f} ms, "
          f"p99 {hit.p99_ms:.1f} ms, non-2xx {hit.non_200}")  # fmt: skip
    print(f"  (c) real app, cache off        {uncached.rps:>9,.0f} req/s  p50 "
          f"{uncached.p50_ms:.1f} ms, p99 {uncached.p99_ms:.1f} ms, "
          f"non-2xx {uncached.non_200}")  # fmt: skip
    print(f"  (d) real app, whoami (floor)   {floor.rps:>9,.0f} req/s  p50 {floor.p50_ms:.1f} ms")
    print(f"  ratio b/a                      {ratio:9.2f}   target >= {TARGET_RATIO}: {verdict}")
    print(f"  ratio d/a (the stack's floor)  {floor.rps / bare if bare else 0:9.2f}")
    print(f"  ratio b/d (cached page vs floor) {hit.rps / floor.rps if floor.rps else 0:7.2f}")
    print(f"  ratio b/c (cache speed-up)     {hit.rps / uncached.rps if uncached.rps else 0:9.2f}")
    print("  (b) and (c) run the whole stack: API key, Redis rate limit (500/hour rule made "
          "unreachable), metrics, gzip")  # fmt: skip


def _report_uncached(
    bare: float, uncached: Measurement, catalog_bare: Measurement, catalog_real: Measurement
) -> None:
    targets = f"ratio >= {TARGET_UNCACHED_RATIO}, p99 < {TARGET_UNCACHED_P99_MS:g} ms"
    print(f"  uncached pages (PostgreSQL on every request) against bare, targets {targets}:")
    pairs = (("observations c/a", uncached, bare), ("catalog f/e", catalog_real, catalog_bare.rps))
    for label, measured, reference in pairs:
        ratio = measured.rps / reference if reference else 0.0
        ok = ratio >= TARGET_UNCACHED_RATIO and measured.p99_ms < TARGET_UNCACHED_P99_MS
        print(f"  {label:<16} {measured.rps:>9,.0f} / {reference:,.0f} req/s = {ratio:.2f}, "
              f"p99 {measured.p99_ms:.1f} ms: {'PASS' if ok else 'MISS'}")  # fmt: skip


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--duration", type=click.IntRange(1, 600), default=10, show_default=True)
@click.option("--connections", type=click.IntRange(1, 1000), default=32, show_default=True)
@click.option("--warmup", type=click.IntRange(0, 60), default=2, show_default=True)
@click.option("--loadgen", type=click.Choice(LOADGENS), default="auto", show_default=True)
def main(duration: int, connections: int, warmup: int, loadgen: str) -> None:
    """Cached read API page vs a bare app serving the same bytes."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run(duration, connections, warmup, loadgen)
    except BenchError as exc:
        progress(f"cannot measure: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
