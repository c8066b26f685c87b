"""Operators' changes to a provider's rate, burst, quotas and budget. PostgreSQL keeps them
(they survive restarts and a flushed Redis); the Redis hash `resilience:overrides:<provider>`
carries them to every replica: the limiter's script reads it on each acquire, and every
replica's guards re-read it each second."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from app.audit.service import AuditContext, record
from app.db.models import ProviderOverride
from app.errors import ServiceUnavailable
from app.resilience.guards import overrides_key

FIELDS = ("requests_per_second", "burst", "daily_quota", "hourly_quota", "monthly_budget_usd")


def _values(row: ProviderOverride | None) -> dict[str, Any]:
    return {field: getattr(row, field) if row else None for field in FIELDS}


async def publish(redis: Redis, provider: str, row: ProviderOverride | None) -> None:
    """Make Redis say exactly what the row says (fields that are None are removed)."""
    values = _values(row)
    async with redis.pipeline(transaction=True) as pipe:
        present: dict[Any, Any] = {
            k: repr(v) if isinstance(v, float) else int(v)
            for k, v in values.items()
            if v is not None
        }
        if present:
            pipe.hset(overrides_key(provider), mapping=present)
        absent = [k for k, v in values.items() if v is None]
        if absent:
            pipe.hdel(overrides_key(provider), *absent)
        await pipe.execute()


async def restore(session: AsyncSession, redis: Redis, providers: list[str]) -> None:
    """At start: Redis gets PostgreSQL's overrides (a flushed Redis loses nothing)."""
    rows = {
        row.provider: row for row in (await session.execute(select(ProviderOverride))).scalars()
    }
    for provider in providers:
        await publish(redis, provider, rows.get(provider))


async def change(
    session: AsyncSession,
    redis: Redis,
    context: AuditContext,
    provider: str,
    changes: dict[str, Any],
    *,
    action: str,
) -> dict[str, Any]:
    """Apply `changes` (a field set to None goes back to the file's value), audited, stored,
    and published. If Redis cannot take it the request fails and the transaction rolls back,
    so PostgreSQL and the replicas never disagree."""
    row = await session.get(ProviderOverride, provider, with_for_update=True)
    before = _values(row)
    if row is None:
        row = ProviderOverride(provider=provider)
        session.add(row)
    for field, value in changes.items():
        setattr(row, field, value)
    row.updated_by = context.principal.id
    row.updated_at = datetime.now(UTC)
    await session.flush()
    after = _values(row)
    await record(
        session, context, action=action, target=f"provider:{provider}", before=before, after=after
    )
    try:
        await publish(redis, provider, row)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable(
            f"{provider}: Redis is unreachable, so the change could not reach the replicas; "
            "nothing was changed. Retry when /ready shows Redis up."
        ) from exc
    return after
