"""`external:provider_status:<provider>`: each provider's status as JSON ({status, reason,
reasons, updated_at}), for `redis-cli --raw get external:provider_status:fred` in the outage
runbook. Written when the status or reason changes (by the health view and by every probe
run), so it stays current without anyone polling; `changed_at` is when it last changed.
Each write returns the status transition it made (judged by the value it replaced), which
the provider's open outage, if any, records on its timeline (app/health/outage_recorder.py)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Transition:
    """A provider's status moved from `before` to the verdict's."""

    provider: str
    before: str
    verdict: Verdict


def _transition(provider: str, previous: str | None, verdict: Verdict) -> Transition | None:
    """A transition when the value replaced held another status (none for a first write)."""
    if not previous:
        return None
    try:
        before = json.loads(previous).get("status")
    except (ValueError, AttributeError):
        return None
    if not before or before == verdict.status:
        return None
    return Transition(provider, str(before), verdict)


async def write_changed(
    redis: Redis, stored: dict[str, str | None], verdicts: dict[str, Verdict]
) -> list[Transition]:
    """Write the verdicts that differ from what `stored` (read in the same view) holds; the
    status transitions, judged by the value each write replaced (read just before it, in the
    same round-trip), so that of two replicas writing the same change one reports it."""
    writes = {p: v for p, v in verdicts.items() if changed(stored.get(p), v)}
    if not writes:
        return []
    now = _now()
    with contextlib.suppress(RedisError, OSError):
        async with redis.pipeline(transaction=False) as pipe:
            for provider, verdict in writes.items():
                pipe.get(status_key(provider))
                pipe.set(status_key(provider), json.dumps(_body(verdict, now)))
            replies = await pipe.execute()
        found = [
            _transition(provider, replies[2 * i], verdict)
            for i, (provider, verdict) in enumerate(writes.items())
        ]
        return [t for t in found if t is not None]
    return []


async def write(redis: Redis, provider: str, verdict: Verdict) -> Transition | None:
    """Refresh one provider's key (the probe job): updated_at moves even when unchanged;
    the status transition, if the value replaced held another status."""
    with contextlib.suppress(RedisError, OSError):
        async with redis.pipeline(transaction=False) as pipe:
            pipe.get(status_key(provider))
            pipe.set(status_key(provider), json.dumps(_body(verdict, _now())))
            previous, _ = await pipe.execute()
        return _transition(provider, previous, verdict)
    return None


def _body(verdict: Verdict, now: str) -> dict[str, Any]:
    return {
        "status": verdict.status,
        "reason": verdict.reason,
        "reasons": verdict.reasons,
        "updated_at": now,
    }
