"""Ingest throughput (`python -m app.runner`, the real collectors against the sandbox) and the
validation that follows an ingest of the service's own job (triggered over HTTP), with the
peak memory of the process that runs it."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from app.db.engine import libpq_url
from bench.api_overhead.dependencies import BenchError, Dependencies
from bench.api_overhead.servers import _child_env
from bench.ingest_throughput.ours import bulk_series
from bench.scale.report import progress
from bench.scale.shapes import PREFIX, PROVIDER, TENANT

PROVIDERS = ("fred", "eia", "noaa", "worldbank")
RUNNER_TIMEOUT_SECONDS = 1800.0
FINISHED = {"succeeded", "failed", "cancelled", "skipped", "abandoned"}
# `fred: 4 series checked, 0 unchanged, 9 requests, rows 21 new, 0 changed, 0 rejected
#  (sandbox, 1.2s)`, one line per provider
_RUNNER_LINE = re.compile(r"^(\w+): .* rows (\d+) new, (\d+) changed, .*\(\w+, ([\d.]+)s\)$")


@dataclass(frozen=True)
class IngestFigure:
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _runner(workdir: Path, deps: Dependencies, arguments: list[str]) -> IngestFigure:
    """`python -m app.runner ARGUMENTS` against the run's databases, the sandbox for every
    provider; rows stored per second of the collections themselves, as the runner times each
    provider (no process start)."""
    env = _child_env(
        {
            "AURUM_DATABASE_URL": deps.database_url,
            "AURUM_REDIS_URL": deps.redis_url,
            "AURUM_KAFKA_ENABLED": "false",
            "AURUM_PROVIDER_MODE": "sandbox",
            "AURUM_DATA_DIR": str(workdir / "data"),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "app.runner", *arguments],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=RUNNER_TIMEOUT_SECONDS,
    )  # fmt: skip
    rows, seconds = 0, 0.0
    for line in done.stdout.splitlines():
        if match := _RUNNER_LINE.match(line.strip()):
            progress(f"  {line.strip()}")
            rows += int(match[2]) + int(match[3])
            seconds += float(match[4])
    if done.returncode != 0 or not rows:
        raise BenchError(f"the runner exited {done.returncode}: {done.stderr.strip()[-800:]}")
    figure = IngestFigure(rows, seconds)
    progress(f"  {rows:,} rows in {seconds:.1f} s: {figure.rate:,.0f} rows/s")
    return figure


def collect_sandbox(workdir: Path, deps: Dependencies) -> IngestFigure:
    """The small shape: every provider's configured series, collected from the sandbox."""
    progress("small: python -m app.runner, every provider's series from the sandbox")
    return _runner(workdir, deps, ["--providers", ",".join(PROVIDERS)])


def _forget_bulk(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        for table in ("external_timeseries_obs", "ingest_checkpoints"):
            statement = (
                "DELETE FROM {} WHERE tenant_id = %s AND provider = %s AND series_id LIKE %s"
            )
            conn.execute(
                sql.SQL(statement).format(sql.Identifier(table)), (TENANT, PROVIDER, "BULK%")
            )


def runner_ingest(workdir: Path, deps: Dependencies, rows: int, runs: int = 3) -> IngestFigure:
    """The median of `runs` ingest measures (the machine's neighbours move a single one)."""
    figures = sorted((_bulk_ingest(workdir, deps, rows) for _ in range(runs)), key=_rate)
    return figures[len(figures) // 2]


def _rate(figure: IngestFigure) -> float:
    return figure.rate


def _bulk_ingest(workdir: Path, deps: Dependencies, rows: int) -> IngestFigure:
    """Ingest throughput: `rows` new observations of the sandbox's bulk FRED series (a few
    large pages, so the provider's rate limit does not set the pace), fetched, checked and
    upserted by the real collector into the shape's table; removed again afterwards, so the
    shape keeps its size."""
    series = bulk_series(rows)
    progress(f"ingest: python -m app.runner, {rows:,} rows of {len(series)} bulk FRED series")
    _forget_bulk(deps.database_url)
    try:
        return _runner(workdir, deps, ["--providers", PROVIDER, "--datasets", ",".join(series)])
    finally:
        _forget_bulk(deps.database_url)


@dataclass(frozen=True)
class ValidationFigure:
    rows_added: int
    seconds: float | None  # None: not finished within the timeout
    peak_rss_mb: float
    baseline_rss_mb: float
    status: str


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of `pid` and its descendants, in kB (0 once it is gone)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        proc = Path(f"/proc/{current}")
        try:
            status = (proc / "status").read_text()
            for task in (proc / "task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(found[1]) if found else 0
    return total


class PeakSampler:
    """The largest resident size of a process tree, sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = _tree_rss_kb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _reopen_window(database_url: str, rows: int) -> tuple[date, int]:
    """Delete the newest ~`rows` observations of the provider's collected series: the day to
    re-read from, and the rows deleted (the next ingest adds them back)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        found = conn.execute(
            "SELECT obs_date FROM external_timeseries_obs WHERE tenant_id = %s AND provider = %s"
            " AND series_id NOT LIKE %s ORDER BY obs_date DESC OFFSET %s LIMIT 1",
            (TENANT, PROVIDER, PREFIX + "%", rows - 1),
        ).fetchone()
        if found is None:
            raise BenchError(f"{PROVIDER} holds fewer than {rows} collected observations")
        cutoff: date = found[0]
        deleted = conn.execute(
            "DELETE FROM external_timeseries_obs WHERE tenant_id = %s AND provider = %s"
            " AND series_id NOT LIKE %s AND obs_date >= %s",
            (TENANT, PROVIDER, PREFIX + "%", cutoff),
        ).rowcount
    return cutoff, deleted


def _poll(client: httpx.Client, path: str, done: Any, deadline: float) -> Any:
    while True:
        body = client.get(path).raise_for_status().json()
        if (found := done(body)) is not None:
            return found
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def _seconds(result: dict[str, Any]) -> float | None:
    if not result.get("started_at") or not result.get("finished_at"):
        return None
    started = datetime.fromisoformat(result["started_at"])
    return (datetime.fromisoformat(result["finished_at"]) - started).total_seconds()


def _wait_idle(client: httpx.Client, deadline: float) -> None:
    """Until no provider's validation runs (the scheduler catches up a missed hourly
    `quality.full_history` when the service starts, before its pause)."""
    for provider in PROVIDERS:
        path = f"/v1/admin/external/validation/{provider}?limit=1"
        if _poll(client, path, lambda body: True if body["running"] is None else None, deadline):
            continue
        raise BenchError(f"a validation of {provider} was still running at the deadline")


def validation_after_ingest(
    client: httpx.Client,
    server_pid: int,
    database_url: str,
    rows: int,
    timeout: float,
    datasets: list[str],
) -> ValidationFigure:
    """Reopen ~`rows` rows of the provider, trigger its ingest job over HTTP (the scheduled
    job's code path: collect, then validate what the run stored), wait for that validation.
    Again once when another validation was running and the ingest's was not started."""
    for _ in range(2):
        _wait_idle(client, time.monotonic() + timeout)
        figure = _validation_once(client, server_pid, database_url, rows, timeout, datasets)
        if figure is not None:
            return figure
        progress("  the ingest's validation was refused: another one was running; again")
    raise BenchError("the ingest's validation was refused twice: another validation was running")


def _validation_once(
    client: httpx.Client,
    server_pid: int,
    database_url: str,
    rows: int,
    timeout: float,
    datasets: list[str],
) -> ValidationFigure | None:
    cutoff, deleted = _reopen_window(database_url, rows)
    progress(f"validation: {deleted:,} {PROVIDER} rows since {cutoff} reopened; ingest.{PROVIDER}")
    baseline = _tree_rss_kb(server_pid)
    deadline = time.monotonic() + timeout
    with PeakSampler(server_pid) as sampler:
        answer = client.post(
            f"/v1/admin/external/jobs/ingest.{PROVIDER}/trigger",
            json={"start": cutoff.isoformat(), "datasets": datasets, "reason": "bench/scale"},
        )
        if answer.status_code != 202:
            raise BenchError(f"trigger answered {answer.status_code}: {answer.text[:300]}")
        run_id = answer.json()["run"]["id"]
        run = _poll(
            client, f"/v1/admin/external/runs/{run_id}",
            lambda r: r if r["status"] in FINISHED else None, deadline,
        )  # fmt: skip
        result = None
        if run is not None and not (run["rows_new"] or run["rows_changed"]):
            raise BenchError(f"ingest.{PROVIDER} added no rows ({run['status']}): no validation")
        if run is not None and (run.get("progress") or {}).get("_validation") == "already running":
            return None
        if run is not None:
            history = f"/v1/admin/external/validation/{PROVIDER}?limit=5"
            result = _poll(client, history, lambda body: _finished_of(body, run_id), deadline)
    rows_added = int(run["rows_new"]) if run else deleted
    if result is None:
        progress(f"  not finished within {timeout:.0f} s")
        status, seconds = "timeout", None
    else:
        status, seconds = str(result["status"]), _seconds(result)
        progress(f"  run added {rows_added:,} rows; validation {status} in {_round(seconds)} s")
    return ValidationFigure(
        rows_added=rows_added,
        seconds=seconds,
        peak_rss_mb=sampler.peak_kb / 1024,
        baseline_rss_mb=baseline / 1024,
        status=status,
    )


def _round(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:.2f}"


def _finished_of(body: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    for entry in body.get("history", []):
        if entry.get("run_id") == run_id and entry.get("status") != "running":
            return dict(entry)
    return None
