"""A stand-in provider API: a plain asyncio HTTP/1.1 server on 127.0.0.1 that answers `ok` and
records the arrival time (time.time(), when the request line is read) of every request, by
the first path segment (the phase: `shared`, `naive`).

`GET /__report?phase=NAME&start=EPOCH&end=EPOCH` answers, for that phase, the number of
arrivals, arrivals per wall-clock second and the most arrivals in any sliding 1 s window,
computed here from the timestamps (so the provider's own clock is the judge).

Run as `python -m bench.limiter_accuracy.fake_provider --port PORT`; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

from bench.limiter_accuracy.stats import max_in_window, per_second

arrivals: dict[str, list[float]] = defaultdict(list)


def _report(query: str) -> bytes:
    params = {k: v[0] for k, v in parse_qs(query).items()}
    times = arrivals.get(params.get("phase", ""), [])
    start = float(params.get("start", min(times, default=0.0)))
    end = float(params.get("end", max(times, default=0.0)))
    body = {
        "arrivals": len(times),
        "max_in_1s": max_in_window(times, 1.0),
        "per_second": per_second(times, start, end),
        "first": min(times, default=None),
        "last": max(times, default=None),
    }
    return json.dumps(body).encode()


def _response(body: bytes, content_type: str = "text/plain") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            line = await reader.readline()
            arrived = time.time()
            if not line:
                return
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # headers; GET requests have no body
            target = urlsplit(line.split(b" ")[1].decode())
            phase = target.path.strip("/").split("/")[0]
            if phase == "__report":
                writer.write(_response(_report(target.query), "application/json"))
            else:
                if not phase.startswith("__"):
                    arrivals[phase].append(arrived)
                writer.write(_response(b"ok"))
            await writer.drain()
    except (ConnectionError, IndexError):
        return
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args().port))
