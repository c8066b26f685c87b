"""Which replicas are live and which flag versions they applied, read from the acknowledgement
hash every replica keeps current (propagation.py); and waiting until a write reached them."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from app.runtime_config.propagation import FlagKeys

WAIT_POLL_SECONDS = 0.005
# Acknowledgements older than this many liveness periods are deleted when status is read.
FORGET_AFTER_TTLS = 20


@dataclass(frozen=True)
class ReplicaAck:
    replica_id: str
    version: int
    flags: dict[str, int]
    applied_at: float
    seen_at: float

    def view(self, now: float) -> dict[str, Any]:
        return {
            "replica_id": self.replica_id,
            "version": self.version,
            "flags": self.flags,
            "applied_at": datetime.fromtimestamp(self.applied_at, UTC),
            "last_seen": datetime.fromtimestamp(self.seen_at, UTC),
            "seconds_since_seen": round(max(0.0, now - self.seen_at), 3),
        }


async def acknowledgements(redis: Redis, keys: FlagKeys) -> list[ReplicaAck]:
    acks = []
    for replica_id, raw in (await redis.hgetall(keys.replicas)).items():
        try:
            data = json.loads(raw)
            acks.append(
                ReplicaAck(
                    replica_id=str(replica_id),
                    version=int(data["version"]),
                    flags={str(k): int(v) for k, v in data.get("flags", {}).items()},
                    applied_at=float(data.get("applied_at") or 0),
                    seen_at=float(data["seen_at"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue  # written by an incompatible release: not counted
    return sorted(acks, key=lambda ack: ack.replica_id)


async def live_replicas(redis: Redis, keys: FlagKeys, ttl_seconds: float) -> list[ReplicaAck]:
    now = time.time()
    acks = await acknowledgements(redis, keys)
    gone = [a.replica_id for a in acks if now - a.seen_at > ttl_seconds * FORGET_AFTER_TTLS]
    if gone:
        await redis.hdel(keys.replicas, *gone)
    return [ack for ack in acks if now - ack.seen_at <= ttl_seconds]


async def wait_for_replicas(
    redis: Redis, keys: FlagKeys, *, name: str, version: int, ttl_seconds: float, at_most: float
) -> dict[str, Any]:
    """Wait (`at_most` seconds) until every live replica applied `name` at `version` or later;
    report how many did."""
    started = time.monotonic()
    while True:
        live = await live_replicas(redis, keys, ttl_seconds)
        applied = [ack.replica_id for ack in live if ack.flags.get(name, 0) >= version]
        waited = time.monotonic() - started
        if len(applied) == len(live) or waited >= at_most:
            return {
                "version": version,
                "live_replicas": len(live),
                "applied": len(applied),
                "complete": len(applied) == len(live),
                "pending": sorted({a.replica_id for a in live} - set(applied)),
                "waited_seconds": round(waited, 4),
            }
        await asyncio.sleep(WAIT_POLL_SECONDS)
