"""`python -m bench.limiter_accuracy`: several processes hammer one provider limit through the
shared outbound limiter (b), then through a naive per-process limiter (a); a fake provider on
127.0.0.1 counts what arrives. See bench/limiter_accuracy/README.md."""

from __future__ import annotations

import atexit
import contextlib
import json
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import click
import httpx
import redis as redis_sync

from app.embedded.ports import free_port, wait_for_port
from app.embedded.redis import release_embedded_redis, start_embedded_redis
from app.resilience.limiter import DEFAULT_MARGIN
from app.settings import Settings
from bench.limiter_accuracy.report import Phase, Report, progress

READY_TIMEOUT_SECONDS = 60.0
START_DELAY_SECONDS = 0.5  # between "all ready" and the common start time


class BenchError(RuntimeError):
    """The benchmark could not measure (a process did not start or answer)."""


@contextlib.contextmanager
def _redis(workdir: Path) -> Iterator[tuple[str, str]]:
    """(URL, description): AURUM_REDIS_URL when set, else an embedded server for this run."""
    given = Settings().redis_url
    if given:
        yield given, "from AURUM_REDIS_URL"
        return
    directory, port = workdir / "redis", free_port()
    progress(f"starting embedded Redis on 127.0.0.1:{port}")
    url = start_embedded_redis(directory, port=port)
    try:
        yield url, "embedded"
    finally:
        release_embedded_redis(directory, port)


@contextlib.contextmanager
def _fake_provider() -> Iterator[int]:
    port = free_port()
    command = [sys.executable, "-m", "bench.limiter_accuracy.fake_provider", "--port", str(port)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, timeout=20, what="fake provider")
        yield port
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_ready(workers: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    with selectors.DefaultSelector() as selector:
        for worker in workers:
            assert worker.stdout is not None
            selector.register(worker.stdout, selectors.EVENT_READ, worker)
        waiting = len(workers)
        while waiting:
            events = selector.select(timeout=max(0.0, deadline - time.monotonic()))
            if not events:
                raise BenchError(f"workers not ready within {READY_TIMEOUT_SECONDS:.0f} s")
            for key, _ in events:
                line = key.fileobj.readline()  # type: ignore[union-attr]
                if line.strip() != "ready":
                    raise BenchError(f"a worker failed to start (said {line.strip()!r})")
                selector.unregister(key.fileobj)
                waiting -= 1


def _phase(name: str, duration: float, *, port: int, options: dict[str, object]) -> Phase:
    processes = int(options["processes"])  # type: ignore[call-overload]
    args = [f"--mode={name}", f"--port={port}", f"--duration={duration}"]
    args += [f"--{key.replace('_', '-')}={value}" for key, value in options.items()]
    command = [sys.executable, "-m", "bench.limiter_accuracy.worker", *args]
    progress(f"{name}: starting {processes} worker processes")
    workers = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    try:
        _wait_ready(workers)
        start = time.time() + START_DELAY_SECONDS
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"{start}\n")
            worker.stdin.flush()
        progress(f"{name}: running for {duration:g} s")
        results = []
        for worker in workers:
            out, _ = worker.communicate(timeout=duration + 60)
            if worker.returncode != 0 or not out.strip():
                raise BenchError(f"a {name} worker exited with {worker.returncode}")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            _stop(worker)
    query = {"phase": name, "start": start, "end": start + duration}
    seen = httpx.get(f"http://127.0.0.1:{port}/__report", params=query, timeout=30).json()
    progress(f"{name}: {seen['arrivals']} requests arrived, at most {seen['max_in_1s']} in 1 s")
    return Phase(name, duration, seen, results)


def _forget(redis_url: str, provider: str) -> None:
    client = redis_sync.Redis.from_url(redis_url)
    try:
        keys = [
            f"resilience:limiter:{provider}:default",
            f"resilience:adaptive:{provider}:default",
            f"resilience:overrides:{provider}",
        ]
        client.delete(*keys)
    finally:
        client.close()


def run(
    *,
    rate: float,
    burst: int,
    duration: float,
    reference_duration: float,
    processes: int,
    concurrency: int,
    margin: float,
) -> Report:
    workdir = Path(tempfile.mkdtemp(prefix="aurum-bench-limiter-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    provider = f"bench-{uuid.uuid4().hex[:8]}"
    with _redis(workdir) as (redis_url, redis_note), _fake_provider() as port:
        options: dict[str, object] = {
            "redis_url": redis_url,
            "provider": provider,
            "rate": rate,
            "burst": burst,
            "processes": processes,
            "margin": margin,
            "concurrency": concurrency,
        }
        try:
            shared = _phase("shared", duration, port=port, options=options)
            naive = _phase("naive", reference_duration, port=port, options=options)
        finally:
            _forget(redis_url, provider)
    notes = []
    if any(worker["degraded"] for worker in shared.workers):
        notes.append("a worker's limiter fell back to memory (Redis unreachable) during (b)")
    late = max(worker["late_start"] for worker in shared.workers + naive.workers)
    if late > 0.05:
        notes.append(f"a worker started {late * 1000:.0f} ms late")
    return Report(
        rate=rate,
        burst=burst,
        processes=processes,
        concurrency=concurrency,
        margin=margin,
        redis=redis_note,
        shared=shared,
        naive=naive,
        notes=notes,
    )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: subprocesses and Redis are stopped


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--rate",
    type=click.FloatRange(0.1, 1000),
    default=20,
    show_default=True,
    help="The provider's limit, requests per second.",
)
@click.option(
    "--burst",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Burst of the limiter (the bound in any 1 s window is rate + burst - 1).",
)
@click.option(
    "--duration",
    type=click.FloatRange(1, 600),
    default=30,
    show_default=True,
    help="Seconds of load through the shared limiter (b).",
)
@click.option(
    "--reference-duration",
    type=click.FloatRange(1, 600),
    default=10,
    show_default=True,
    help="Seconds of load through the naive reference (a).",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 32),
    default=3,
    show_default=True,
    help="Worker processes (replicas) sharing the limit.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Request loops per process.",
)
@click.option(
    "--margin",
    type=click.FloatRange(0, 0.5),
    default=DEFAULT_MARGIN,
    show_default=True,
    help="The limiter's spacing margin (0.02 = 2 % wider).",
)
def main(
    rate: float,
    burst: int,
    duration: float,
    reference_duration: float,
    processes: int,
    concurrency: int,
    margin: float,
) -> None:
    """Check that the shared outbound limiter holds a provider's limit across processes."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        report = run(
            rate=rate,
            burst=burst,
            duration=duration,
            reference_duration=reference_duration,
            processes=processes,
            concurrency=concurrency,
            margin=margin,
        )
    except KeyboardInterrupt:
        progress("interrupted; subprocesses stopped")
        sys.exit(130)
    except (BenchError, subprocess.TimeoutExpired) as exc:
        progress(f"error: {exc}")
        sys.exit(1)
    click.echo(report.render())


if __name__ == "__main__":
    main()
