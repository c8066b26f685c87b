"""What the last provider calls did, in Redis, for the health and SLA endpoints.

Per provider, one hash `external:provider_calls:<provider>` holds the last attempt, the last
success and the last error (message, time, HTTP status), and hourly hashes
`external:provider_calls:<provider>:<YYYY-MM-DDTHH>` count successes and failures (kept
~32 days, so a 30-day request success rate is one pipelined read). The guarded client writes
one pipeline per attempt; a Redis outage never fails a call (the health view then shows what
was last written).
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

HOURLY_TTL_SECONDS = 32 * 86_400


def calls_key(provider: str) -> str:
    return f"external:provider_calls:{provider}"


def hourly_key(provider: str, hour: datetime) -> str:
    return f"{calls_key(provider)}:{hour:%Y-%m-%dT%H}"


async def record_outcome(
    redis: Redis,
    provider: str,
    *,
    success: bool,
    error: str | None = None,
    http_status: int | None = None,
    now: float | None = None,
) -> None:
    """One pipelined write: the last-call hash and this hour's counter."""
    epoch = time.time() if now is None else now
    fields: dict[Any, Any] = {"last_attempt_at": epoch}
    if success:
        fields["last_success_at"] = epoch
    else:
        fields |= {
            "last_error_at": epoch,
            "last_error_message": (error or "unknown error")[:300],
            "last_error_status": "" if http_status is None else str(http_status),
        }
    hour = hourly_key(provider, datetime.fromtimestamp(epoch, UTC))
    with contextlib.suppress(RedisError, OSError):
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(calls_key(provider), mapping=fields)
            pipe.hincrby(hour, "success" if success else "failure", 1)
            pipe.expire(hour, HOURLY_TTL_SECONDS)
            await pipe.execute()


def parse_calls(raw: dict[str, str] | None) -> dict[str, Any]:
    """The hash as the health view shows it (ISO times; None where nothing was recorded)."""
    raw = raw or {}
    status = raw.get("last_error_status")
    last_error = None
    if raw.get("last_error_at"):
        last_error = {
            "message": raw.get("last_error_message"),
            "at": _iso(raw.get("last_error_at")),
            "http_status": int(status) if status else None,
        }
    return {
        "last_attempt_at": _iso(raw.get("last_attempt_at")),
        "last_success_at": _iso(raw.get("last_success_at")),
        "last_error": last_error,
    }


def hour_keys(provider: str, hours: int, now: datetime | None = None) -> list[str]:
    now = now or datetime.now(UTC)
    return [hourly_key(provider, now - timedelta(hours=h)) for h in range(hours)]


async def hourly_counts(
    redis: Redis, provider: str, hours: int = 24, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Successes and failures per hour over the last `hours`, oldest first (one pipelined
    read); empty when Redis does not answer."""
    now = now or datetime.now(UTC)
    moments = [now - timedelta(hours=h) for h in reversed(range(hours))]
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for moment in moments:
                pipe.hgetall(hourly_key(provider, moment))
            replies = await pipe.execute()
    except (RedisError, OSError):
        return []
    return [
        {
            "hour": f"{moment:%Y-%m-%dT%H}:00:00Z",
            "success": int((reply or {}).get("success", 0)),
            "failure": int((reply or {}).get("failure", 0)),
        }
        for moment, reply in zip(moments, replies, strict=True)
    ]


def sum_hours(replies: list[dict[str, str] | None]) -> tuple[int, int]:
    """(successes, failures) over the hourly hashes read with `hour_keys`."""
    ok = sum(int((r or {}).get("success", 0)) for r in replies)
    failed = sum(int((r or {}).get("failure", 0)) for r in replies)
    return ok, failed


def _iso(epoch: str | None) -> str | None:
    if not epoch:
        return None
    stamp = datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def epoch(raw: dict[str, str] | None, field: str) -> float | None:
    """A time field of the hash as epoch seconds (full precision, unlike the ISO view)."""
    value = (raw or {}).get(field)
    return float(value) if value else None
