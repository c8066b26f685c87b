"""`external:provider_status:<provider>`: each provider's status as JSON ({status, reason,
reasons, updated_at}), for `redis-cli --raw get external:provider_status:fred` in the outage
runbook. Written when the status or reason changes (by the health view and by every probe
run), so it stays current without anyone polling; `changed_at` is when it last changed."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.health.derive import Verdict


def status_key(provider: str) -> str:
    return f"external:provider_status:{provider}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def changed(stored: str | None, verdict: Verdict) -> bool:
    if not stored:
        return True
    try:
        old = json.loads(stored)
    except ValueError:
        return True
    return bool(old.get("status") != verdict.status or old.get("reason") != verdict.reason)


async def write_changed(
    redis: Redis, stored: dict[str, str | None], verdicts: dict[str, Verdict]
) -> None:
    """Write the verdicts that differ from what `stored` (read in the same view) holds."""
    writes = {p: v for p, v in verdicts.items() if changed(stored.get(p), v)}
    if not writes:
        return
    now = _now()
    with contextlib.suppress(RedisError, OSError):
        async with redis.pipeline(transaction=False) as pipe:
            for provider, verdict in writes.items():
                pipe.set(status_key(provider), json.dumps(_body(verdict, now)))
            await pipe.execute()


async def write(redis: Redis, provider: str, verdict: Verdict) -> None:
    """Refresh one provider's key (the probe job): updated_at moves even when unchanged."""
    with contextlib.suppress(RedisError, OSError):
        await redis.set(status_key(provider), json.dumps(_body(verdict, _now())))


def _body(verdict: Verdict, now: str) -> dict[str, Any]:
    return {
        "status": verdict.status,
        "reason": verdict.reason,
        "reasons": verdict.reasons,
        "updated_at": now,
    }
