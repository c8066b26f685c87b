"""The HTTP measures, against the real service with its caches off: one request at a time,
N concurrent clients (bench/api_overhead's load generator), and the read API's uncached page
against a bare FastAPI app serving the same bytes."""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.api_overhead.dependencies import BenchError
from bench.api_overhead.drivers import AsyncioDriver, Driver, Load
from bench.api_overhead.report import Measurement
from bench.api_overhead.servers import HOST, bare_server, http_get, verify_bare
from bench.read_api.__main__ import _set_cache
from bench.scale.report import progress

SLA = "/v1/admin/external/sla?window=30d"
HEALTH = "/v1/admin/external/health"
READ_SERIES = "DGS10"  # a daily series the sandbox serves, present at every shape
READ_PAGE = f"/v1/external/series/fred/{READ_SERIES}/observations?limit=100"
SINGLE_REQUESTS = 5
SINGLE_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Concurrent:
    clients: int
    measured: Measurement | None  # None: no client got an answer

    @property
    def all_answered(self) -> bool:
        m = self.measured
        return m is not None and m.requests > 0 and not m.errors and not m.non_200

    @property
    def answered(self) -> str:
        """`yes`, or `no: OK/ASKED` (an abandoned connection's last request counts as asked)."""
        m = self.measured
        if self.all_answered or m is None:
            return "yes" if m is not None else "no: none"
        return f"no: {m.requests - m.non_200}/{m.requests + m.errors}"


@dataclass(frozen=True)
class Endpoint:
    single_ms: float  # median of SINGLE_REQUESTS sequential requests (after one warm-up)
    single_failed: str | None  # e.g. "503": a status other than 200 among them
    concurrent: Concurrent

    @property
    def single(self) -> float | str:
        if self.single_failed:
            return f"{self.single_failed} ({self.single_ms:,.0f} ms)"
        return self.single_ms


@dataclass(frozen=True)
class ReadFigure:
    real: Measurement
    bare: Measurement
    connections: int

    @property
    def ratio(self) -> float:
        return self.real.rps / self.bare.rps if self.bare.rps else 0.0


def single_ms(port: int, key: str, path: str) -> tuple[float, str | None]:
    """The median time of the requests, and the first status other than 200 if any."""
    timings, failed = [], None
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=SINGLE_TIMEOUT_SECONDS) as client:
        for index in range(SINGLE_REQUESTS + 1):
            started = time.perf_counter()
            answer = client.get(path, headers={"X-API-Key": key})
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200 and failed is None:
                failed = str(answer.status_code)
                progress(f"  answered {answer.status_code}: {answer.text[:200]}")
            if index:  # the first one warms up
                timings.append(elapsed)
    return statistics.median(timings), failed


def concurrent(port: int, key: str, path: str, clients: int, duration: int) -> Concurrent:
    """`clients` connections, each asking again as soon as it has its answer, for `duration`
    seconds; a connection waiting more than 10 s for an answer is given up (an error)."""
    load = Load(port, path, {"X-API-Key": key}, clients, duration, 0)
    try:
        measured = AsyncioDriver().measure(load)
    except BenchError as exc:  # every connection timed out
        progress(f"  {clients} clients: none answered ({exc})")
        return Concurrent(clients, None)
    return Concurrent(clients, measured)


def endpoint(port: int, key: str, path: str, clients: int, duration: int) -> Endpoint:
    progress(f"GET {path}: one request at a time")
    one, failed = single_ms(port, key, path)
    progress(f"  median {one:.1f} ms; {clients} concurrent clients")
    many = concurrent(port, key, path, clients, duration)
    if many.measured:
        m = many.measured
        progress(f"  p50 {m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms, {m.requests} answered, "
                 f"{m.errors} clients gave up, {m.non_200} non-200")  # fmt: skip
    return Endpoint(one, failed, many)


def read_api(
    workdir: Path, driver: Driver, port: int, key: str, connections: int, duration: int,
    warmup: int,
) -> ReadFigure:  # fmt: skip
    """The uncached 100-row page (the read cache flag off; X-Cache: MISS) against the bare
    app answering its bytes, `connections` connections each."""
    _set_cache(port, key, False)
    headers = {"X-API-Key": key}
    page = http_get(port, READ_PAGE, headers)
    if page.status != 200 or page.headers.get("x-cache", "MISS") != "MISS":
        raise BenchError(f"read page answered {page.status}, X-Cache {page.headers.get('x-cache')}")
    bare_path = READ_PAGE.split("?")[0]
    with contextlib.ExitStack() as stack:
        bare = stack.enter_context(bare_server(workdir, bare_path, page.body))
        verify_bare(bare, bare_path, page.body)
        progress(f"read API: {len(page.body)} bytes; bare app, {connections} connections")
        bare_run = driver.measure(Load(bare.port, bare_path, {}, connections, duration, warmup))
        progress(f"  bare {bare_run.rps:,.0f} req/s; real app, cache off")
        real = driver.measure(Load(port, READ_PAGE, headers, connections, duration, warmup))
        progress(f"  real {real.rps:,.0f} req/s, p50 {real.p50_ms:.1f} ms, p99 {real.p99_ms:.1f}")
    return ReadFigure(real=real, bare=bare_run, connections=connections)
