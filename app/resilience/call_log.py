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


# Summed inside Redis: a 30-day window is 720 hashes per provider, and parsing 720 replies in
# Python cost the SLA request most of its time on the event loop.
_SUM_HOURS = """
local ok, failed = 0, 0
for _, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'success', 'failure')
  ok = ok + (tonumber(v[1]) or 0)
  failed = failed + (tonumber(v[2]) or 0)
end
return {ok, failed}
"""


async def window_totals(
    redis: Redis, provider: str, hours: int, now: datetime | None = None
) -> tuple[int, int]:
    """(successes, failures) over the last `hours` hourly hashes, in one round-trip."""
    keys = hour_keys(provider, hours, now)
    ok, failed = await redis.register_script(_SUM_HOURS)(keys=keys)
    return int(ok), int(failed)


def _iso(epoch: str | None) -> str | None:
    if not epoch:
        return None
    stamp = datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def epoch(raw: dict[str, str] | None, field: str) -> float | None:
    """A time field of the hash as epoch seconds (full precision, unlike the ISO view)."""
    value = (raw or {}).get(field)
    return float(value) if value else None
