"""One load process: `--concurrency` loops that each acquire a slot and GET the fake provider,
as fast as the limiter lets them, from the start time the parent sends until `--duration`
seconds later.

- `--mode shared`: each loop has its own `OutboundRateLimiter` on the one Redis (the same keys
  as every other loop and process), as each replica's guarded client would.
- `--mode naive`: the reference: one in-process GCRA per process at the full rate, with no
  sharing (what each replica would do with a local limiter).

Protocol: prints `ready` once connected and warmed up, reads the start time (epoch seconds)
from stdin, and prints one JSON line with its samples at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import httpx
from redis.asyncio import Redis

from app.resilience import limiter_scripts
from app.resilience.config import RateConfig
from app.resilience.limiter import OutboundRateLimiter
from app.resilience.local_limiter import LocalGcra, spacing


class Samples:
    def __init__(self) -> None:
        self.sent = 0
        self.waits: list[float] = []  # the delay the limiter asked for
        self.overheads: list[float] = []  # time in acquire beyond that delay
        self.round_trips: list[float] = []  # the acquire script call alone

    def as_dict(self, **extra: Any) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "waits": self.waits,
            "overheads": self.overheads,
            "round_trips": self.round_trips,
            **extra,
        }


async def _shared_loop(
    redis: Redis, args: argparse.Namespace, http: httpx.AsyncClient, end: float, out: Samples
) -> bool:
    rate = RateConfig(requests_per_second=args.rate, burst=args.burst, adaptive=False)
    limiter = OutboundRateLimiter(
        redis,
        provider=args.provider,
        rate=rate,
        replicas=args.processes,
        max_wait=120,
        margin=args.margin,
    )
    while True:
        started = time.perf_counter()
        wait = await limiter.acquire()
        in_acquire = time.perf_counter() - started
        if time.time() >= end:
            return limiter.degraded
        await http.get("/shared/data")
        out.sent += 1
        out.waits.append(wait)
        out.overheads.append(in_acquire - wait)
        out.round_trips.append(limiter.last_round_trip_seconds)


async def _naive_loop(
    bucket: LocalGcra, args: argparse.Namespace, http: httpx.AsyncClient, end: float, out: Samples
) -> bool:
    interval = spacing(args.rate, 0.0)
    while True:
        started = time.perf_counter()
        wait = bucket.reserve(interval=interval, burst=args.burst, max_wait=120).wait
        await asyncio.sleep(wait)
        in_acquire = time.perf_counter() - started
        if time.time() >= end:
            return False
        await http.get("/naive/data")
        out.sent += 1
        out.waits.append(wait)
        out.overheads.append(in_acquire - wait)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    redis = Redis.from_url(args.redis_url, decode_responses=True)
    size = args.concurrency
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{args.port}", limits=limits, timeout=10
    ) as http:
        # Warm up: connections open and the script cached before the clock starts.
        await asyncio.gather(*(redis.ping() for _ in range(args.concurrency)))
        await redis.script_load(limiter_scripts.ACQUIRE)
        await asyncio.gather(*(http.get("/__warmup") for _ in range(args.concurrency)))
        print("ready", flush=True)
        start = float(await asyncio.to_thread(sys.stdin.readline))
        late = time.time() - start
        await asyncio.sleep(max(0.0, -late))
        end = start + args.duration
        samples = Samples()
        bucket = LocalGcra()
        if args.mode == "shared":
            loops = [_shared_loop(redis, args, http, end, samples) for _ in range(args.concurrency)]
        else:
            loops = [_naive_loop(bucket, args, http, end, samples) for _ in range(args.concurrency)]
        degraded = await asyncio.gather(*loops)
    await redis.aclose()
    return samples.as_dict(late_start=max(0.0, late), degraded=any(degraded))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=("shared", "naive"), required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--provider", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--burst", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--margin", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
