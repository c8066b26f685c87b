"""A closed-loop HTTP/1.1 load generator on asyncio streams, for when wrk is not installed.

N keep-alive connections each send the next request as soon as the previous response has been
read in full (status line, headers, then exactly Content-Length bytes). Every request's latency
is taken with `perf_counter_ns`. Run it as its own process so it does not share an interpreter
(or a core) with the server it measures:

    python -m bench.api_overhead.loadgen --port 8080 --path /v1/admin/whoami \
        --header "X-API-Key: ..." --connections 32 --duration 15 --warmup 3

It prints one JSON object (see `report.Measurement`) on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from dataclasses import asdict, dataclass, field

from bench.api_overhead.report import Measurement

RESPONSE_TIMEOUT_SECONDS = 10.0
MAX_HEADER_BYTES = 64 * 1024


class ProtocolError(Exception):
    """A response this minimal client cannot read (no Content-Length, connection closed)."""


@dataclass
class _Tally:
    latencies_ns: list[int] = field(default_factory=list)
    non_200: int = 0
    errors: int = 0
    last_done_ns: int = 0


def build_request(host: str, port: int, path: str, headers: list[str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one whole response; return its status code."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("connection closed by the server") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("response headers too large") from exc
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
            break
    if length is None:
        raise ProtocolError("response without Content-Length (chunked is not supported)")
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str, port: int, request: bytes, stop_ns: int, record_from_ns: int, tally: _Tally
) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES)
    try:
        while True:
            started = time.perf_counter_ns()
            if started >= stop_ns:
                return
            writer.write(request)
            async with asyncio.timeout(RESPONSE_TIMEOUT_SECONDS):
                status = await read_response(reader)
            done = time.perf_counter_ns()
            if started >= record_from_ns:  # requests sent during warm-up are not counted
                tally.latencies_ns.append(done - started)
                tally.last_done_ns = max(tally.last_done_ns, done)
                if status != 200:
                    tally.non_200 += 1
    finally:
        writer.close()


def percentile(sorted_values: list[int], pct: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def run(
    *,
    host: str,
    port: int,
    path: str,
    headers: list[str],
    connections: int,
    duration: float,
    warmup: float,
) -> Measurement:
    request = build_request(host, port, path, headers)
    started = time.perf_counter_ns()
    record_from = started + int(warmup * 1e9)
    stop = record_from + int(duration * 1e9)
    tally = _Tally()
    outcomes = await asyncio.gather(
        *(_connection(host, port, request, stop, record_from, tally) for _ in range(connections)),
        return_exceptions=True,
    )
    tally.errors = sum(1 for outcome in outcomes if isinstance(outcome, BaseException))
    if tally.errors == connections:
        raise next(o for o in outcomes if isinstance(o, BaseException))
    # Requests in flight at the deadline still complete; the window ends with the last of them.
    elapsed_s = max(tally.last_done_ns - record_from, 1) / 1e9
    latencies = sorted(tally.latencies_ns)
    return Measurement(
        requests=len(latencies),
        elapsed_s=round(elapsed_s, 3),
        rps=round(len(latencies) / elapsed_s, 1),
        p50_ms=round(percentile(latencies, 50) / 1e6, 3),
        p99_ms=round(percentile(latencies, 99) / 1e6, 3),
        non_200=tally.non_200,
        errors=tally.errors,
    )


def _event_loop_runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds before measuring")
    args = parser.parse_args(argv)
    with _event_loop_runner() as runner:
        result = runner.run(
            run(
                host=args.host,
                port=args.port,
                path=args.path,
                headers=args.header,
                connections=args.connections,
                duration=args.duration,
                warmup=args.warmup,
            )
        )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
