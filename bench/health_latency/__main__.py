"""`python -m bench.health_latency` (`make bench-health`): p50 and p99 of
GET /v1/admin/external/health with the four shipped providers on the real app (one uvicorn
worker, API key, Redis rate limiting, embedded PostgreSQL and Redis) against a bare FastAPI
endpoint returning the same body, measured in the same run; prints both and the ratio.

Reuses bench/api_overhead's servers and load generators (a), (b), (a). One connection by
default: an operator's or a monitor's request, so this measures the endpoint's latency, not
the queueing of a single worker saturated by concurrent callers (try --connections 4).
"""

from __future__ import annotations

import signal
import sys

import click

from bench.api_overhead.__main__ import _terminate, run
from bench.api_overhead.dependencies import BenchError
from bench.api_overhead.drivers import LOADGENS
from bench.api_overhead.report import mean_of, progress

PATH = "/v1/admin/external/health"
TARGET_P99_MS = 10.0


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--duration", type=click.IntRange(1, 600), default=10, show_default=True)
@click.option("--connections", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--warmup", type=click.IntRange(0, 120), default=3, show_default=True)
@click.option("--loadgen", type=click.Choice(LOADGENS), default="auto", show_default=True)
def main(duration: int, connections: int, warmup: int, loadgen: str) -> None:
    """Latency of the health endpoint against a bare endpoint serving the same body."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        report = run(
            duration=duration,
            connections=connections,
            warmup=warmup,
            path=PATH,
            loadgen=loadgen,
            # No sandbox collections at start: their CPU on (b)'s one worker would be measured
            # instead of the endpoint. Probes still run every minute.
            overrides={"AURUM_SANDBOX_COLLECT_INTERVAL_SECONDS": "0"},
        )
    except KeyboardInterrupt:
        progress("interrupted; servers and databases stopped")
        sys.exit(130)
    except BenchError as exc:
        progress(f"error: {exc}")
        sys.exit(1)
    bare, real = mean_of(report.bare_runs), report.real
    verdict = "met" if real.p99_ms < TARGET_P99_MS else "MISSED"
    lines = [
        f"GET {PATH}, {connections} connections, {duration} s per run, loadgen {report.loadgen}",
        f"  bare endpoint (a):  p50 {bare.p50_ms:6.2f} ms  p99 {bare.p99_ms:6.2f} ms  "
        f"{bare.rps:8,.0f} req/s",
        f"  real app (b):       p50 {real.p50_ms:6.2f} ms  p99 {real.p99_ms:6.2f} ms  "
        f"{real.rps:8,.0f} req/s  (non-200: {real.non_200}, errors: {real.errors})",
        f"  ratio b/a:          p50 {real.p50_ms / bare.p50_ms:5.1f}x  "
        f"p99 {real.p99_ms / bare.p99_ms:5.1f}x",
        f"  target p99 < {TARGET_P99_MS:g} ms: {verdict}",
    ]
    lines += [f"  note: {note}" for note in report.notes]
    click.echo("\n".join(lines))


if __name__ == "__main__":
    main()
