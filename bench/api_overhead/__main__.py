"""`python -m bench.api_overhead`: requests/s and p99 of the real app (b) against a bare
FastAPI app (a) serving the same bytes, and the ratio b/a. See bench/api_overhead/README.md."""

from __future__ import annotations

import atexit
import contextlib
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

import click

from bench.api_overhead.dependencies import BenchError, admin_api_key, dependencies
from bench.api_overhead.drivers import LOADGENS, Driver, Load, choose_driver
from bench.api_overhead.machine import BUSY_WARNING, busy_fraction
from bench.api_overhead.report import Measurement, Report, progress
from bench.api_overhead.servers import (
    bare_server,
    rate_limit_env,
    real_server,
    verify_bare,
    verify_real,
)

DEFAULT_PATH = "/v1/admin/external/health"
REAL_SETUP = "API key, Redis rate limit, metrics"


def _workdir() -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="aurum-bench-api-overhead-"))
    # Registered first, so it runs last at exit: after the embedded PostgreSQL (stopped and
    # deleted by its own exit hook) has left the directory.
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    return workdir


def _measure(driver: Driver, label: str, load: Load, notes: list[str]) -> Measurement:
    busy = busy_fraction()
    if busy is not None and busy > BUSY_WARNING:
        warning = f"{busy:.0%} of the CPU was busy with other work before {label}"
        progress(f"WARNING: {warning}; the figures may be skewed")
        notes.append(warning)
    progress(f"{label}: {load.connections} connections")
    result = driver.measure(load)
    progress(f"  {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms")
    return result


def run(
    *,
    duration: int,
    connections: int,
    warmup: int,
    path: str,
    loadgen: str,
    overrides: dict[str, str],
) -> Report:
    driver = choose_driver(loadgen)
    notes = []
    if driver.name == "asyncio" and loadgen == "auto":
        notes.append("wrk not found; the asyncio load generator was used (apt-get install wrk)")
    limits = rate_limit_env()
    notes.append(
        "(b) is `python -m app serve` with the service's default logging (JSON, INFO, one access "
        f"line per request, to a file); rate limits {limits['AURUM_RATE_LIMIT_DEFAULT']!r} "
        "(the shipped default's windows, amounts never reached), counted in Redis"
    )
    workdir = _workdir()
    with contextlib.ExitStack() as stack:
        deps = stack.enter_context(dependencies(workdir))
        api_key = stack.enter_context(admin_api_key(deps))
        if overrides:
            notes.append(f"(b) settings overridden for this run: {overrides}")
        real = stack.enter_context(real_server(workdir, deps, overrides))
        body, warnings = verify_real(real, path, api_key)
        for warning in warnings:
            progress(f"WARNING: {warning}")
        notes.extend(warnings)
        bare = stack.enter_context(bare_server(workdir, path, body))
        verify_bare(bare, path, body)
        progress(f"both servers answer GET {path} with the same {len(body)}-byte body")

        def load(port: int) -> Load:
            # The same request bytes to both servers, the key included.
            headers = {"X-API-Key": api_key}
            return Load(port, path, headers, connections, duration, warmup)

        # (a), (b), (a) again: the mean of the two bare runs brackets (b) in time, so a slow
        # drift of the machine's speed during the run cancels out of the ratio.
        bare_first = _measure(driver, "bare app (a), run 1", load(bare.port), notes)
        real_run = _measure(driver, "real app (b)", load(real.port), notes)
        bare_second = _measure(driver, "bare app (a), run 2", load(bare.port), notes)
        progress("stopping servers")
    return Report(
        path=path,
        connections=connections,
        duration=duration,
        loadgen=driver.name,
        bare_runs=[bare_first, bare_second],
        real=real_run,
        real_setup=REAL_SETUP,
        notes=notes,
    )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: servers and databases are stopped


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--duration",
    type=click.IntRange(1, 600),
    default=15,
    show_default=True,
    help="Seconds measured per server run.",
)
@click.option(
    "--connections",
    type=click.IntRange(1, 1000),
    default=32,
    show_default=True,
    help="Concurrent keep-alive connections.",
)
@click.option(
    "--warmup",
    type=click.IntRange(0, 120),
    default=3,
    show_default=True,
    help="Seconds of load before each measurement, not counted.",
)
@click.option(
    "--path",
    default=DEFAULT_PATH,
    show_default=True,
    help="Endpoint measured; (a) serves the bytes (b) answers there.",
)
@click.option(
    "--loadgen",
    type=click.Choice(LOADGENS),
    default="auto",
    show_default=True,
    help="Load generator: wrk when on PATH (auto), or the built-in asyncio one.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="AURUM_NAME=VALUE",
    help="Override a setting of (b), e.g. --set AURUM_ACCESS_LOG=false (ablations).",
)
def main(
    duration: int,
    connections: int,
    warmup: int,
    path: str,
    loadgen: str,
    settings: tuple[str, ...],
) -> None:
    """Measure the real app's overhead over a bare FastAPI app on 127.0.0.1."""
    if not path.startswith("/"):
        raise click.BadParameter("must start with '/'", param_hint="--path")
    overrides = {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name.startswith("AURUM_"):
            raise click.BadParameter(f"{item!r} is not AURUM_NAME=VALUE", param_hint="--set")
        overrides[name] = value
    signal.signal(signal.SIGTERM, _terminate)
    try:
        report = run(
            duration=duration,
            connections=connections,
            warmup=warmup,
            path=path,
            loadgen=loadgen,
            overrides=overrides,
        )
    except KeyboardInterrupt:
        progress("interrupted; servers and databases stopped")
        sys.exit(130)
    except BenchError as exc:
        progress(f"error: {exc}")
        sys.exit(1)
    click.echo(report.render())


if __name__ == "__main__":
    main()
