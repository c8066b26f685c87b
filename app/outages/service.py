"""Declaring and resolving provider outages.

A declaration applies the runbook's mitigation as one change: the database side (job pauses,
flags, the outage row, its events and audit entries) in the caller's transaction, the Redis
side (the breaker forced open) last and taken back if the commit fails (`commit`). A resolve
probes first, undoes what is still as the declaration left it and queues the backfill.
Services never commit; `commit` is what the caller runs at the end of its unit of work.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import AuditContext, record
from app.auth.principal import SYSTEM
from app.db.models import JobRun, OutageStatus, ProviderOutage
from app.db.repositories import outage_events as events
from app.db.repositories import outages as repo
from app.errors import Conflict, NotFound, ServiceUnavailable
from app.outages import actions as act
from app.outages.context import OutageDeps, Outcome
from app.outages.resolution import undo_actions
from app.outages.views import OutageActions, outage_view
from app.providers.config import ProvidersConfig
from app.runtime_config.propagation import FlagPropagation


def _known(config: ProvidersConfig) -> str:
    return ", ".join(sorted(config.providers))


def _check_provider(config: ProvidersConfig, provider: str) -> None:
    section = config.providers.get(provider)  # type: ignore[call-overload]
    if section is None:
        raise NotFound(
            f"No provider named {provider!r}; known providers: {_known(config)}.",
            details={"known": sorted(config.providers)},
        )
    if not section.enabled:
        raise Conflict(
            f"{provider} is disabled in the provider file: it is not collected, so there is "
            "nothing to mitigate. Enable it first."
        )


def _already_open(existing: ProviderOutage) -> Conflict:
    return Conflict(
        f"An outage of {existing.provider} is already open: {existing.id} (declared by "
        f"{existing.declared_by}: {existing.reason}). Resolve it first: "
        f"POST /v1/admin/external/outages/{existing.id}/resolve.",
        details={"outage_id": str(existing.id)},
    )


async def declare(
    *,
    session: AsyncSession,
    audit: AuditContext,
    deps: OutageDeps,
    provider: str,
    reason: str,
    ttl_seconds: int,
    actions: OutageActions,
) -> Outcome:
    """Open an outage and apply its mitigation; 404 unknown provider, 409 disabled or one
    already open, 503 when Redis cannot take the breaker (nothing is left applied)."""
    _check_provider(deps.config, provider)
    if (existing := await repo.open_for(session, provider)) is not None:
        raise _already_open(existing)
    outage = ProviderOutage(
        provider=provider,
        reason=reason,
        declared_by=audit.principal.id,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
        requested_actions=actions.model_dump() | {"ttl_seconds": ttl_seconds},
    )
    try:
        async with session.begin_nested():
            await repo.add(session, outage)
    except IntegrityError:  # declared on another replica meanwhile
        existing = await repo.open_for(session, provider)
        if existing is None:
            raise
        raise _already_open(existing) from None
    change = act.Change()
    audit = dataclasses.replace(audit, reason=reason)
    steps = act.Steps(session, audit, deps.ops, provider, change)
    try:
        await events.add(
            session, outage.id, kind="declared", actor=audit.principal.id,
            summary=f"outage of {provider} declared: {reason}", detail={"ttl_seconds": ttl_seconds},
        )  # fmt: skip
        applied: list[dict[str, Any]] = []
        if actions.pause_jobs:
            applied += await act.pause_jobs(steps)
        if actions.read_cache:
            applied.append(await act.read_cache_on(steps))
        if actions.fallback:
            applied.append(await act.fallback_on(steps))
        if actions.force_open_breaker:  # Redis last: nothing after it can fail but the commit
            breaker = deps.guards[provider].breaker
            applied.append(await act.force_open(steps, breaker, ttl_seconds))
        for item in applied:
            done = "applied" if item["changed"] else "already so, left as it was"
            await events.add(
                session, outage.id, kind="action", actor=audit.principal.id,
                summary=f"{item['action']} {item['target']}: {done}", detail=item,
            )  # fmt: skip
        outage.applied_actions = applied
        session.add(outage)
        await session.flush()
        await record(
            session, steps.audit, action="outage.declare", target=f"outage:{outage.id}",
            after=outage_view(outage), reason=reason,
        )  # fmt: skip
    except BaseException:
        await change.compensate()
        raise
    return Outcome(outage, change)


async def commit(session: AsyncSession, outcome: Outcome, flags: FlagPropagation) -> None:
    """Commit the unit of work; if that fails, take back the Redis side (503). Then tell the
    replicas about the flags it changed."""
    try:
        await session.commit()
    except (SQLAlchemyError, OSError) as exc:
        await outcome.change.compensate()
        raise ServiceUnavailable(
            f"PostgreSQL could not commit the change ({type(exc).__name__}); nothing was "
            "changed. Retry when /ready shows PostgreSQL up."
        ) from exc
    outcome.change.compensations.clear()
    if outcome.change.flags:
        await flags.publish(outcome.change.flags, datetime.now(UTC).timestamp())


async def resolve(
    *,
    session: AsyncSession,
    audit: AuditContext,
    deps: OutageDeps,
    outage_id: uuid.UUID,
    reason: str | None,
    backfill: bool,
    force: bool,
    expired: bool = False,
) -> Outcome:
    """Probe, undo, backfill; 404 unknown id, 409 already resolved or the probe still
    failing (unless `force`)."""
    # Locked for the whole resolve, probe included: a second resolve of the same outage waits
    # and then answers 409, instead of both moving the breaker.
    outage = await repo.get(session, outage_id, for_update=True)
    if outage is None:
        raise NotFound(f"No outage {outage_id}.")
    if outage.status != OutageStatus.OPEN:
        raise Conflict(
            f"Outage {outage.id} was already resolved at {outage.resolved_at} by "
            f"{outage.resolved_by}.",
            details={"outage_id": str(outage.id), "status": outage.status},
        )
    change = act.Change()
    steps = act.Steps(
        session, dataclasses.replace(audit, reason=outage.reason), deps.ops, outage.provider, change
    )
    try:
        return await undo_actions(
            steps, outage, deps, reason=reason, backfill=backfill, force=force, expired=expired
        )
    except BaseException:
        await change.compensate()
        raise


async def expire_next(
    *, session: AsyncSession, deps: OutageDeps, now: datetime | None = None
) -> Outcome | None:
    """Resolve one open outage past its expiry, as `system` (probe not required), or None
    when none is due. One per unit of work: one that fails leaves the others to the next."""
    due = await repo.due_to_expire(session, now or datetime.now(UTC), limit=1)
    if not due:
        return None
    return await resolve(
        session=session, audit=AuditContext(principal=SYSTEM, reason="expired"), deps=deps,
        outage_id=due[0].id, reason="expired", backfill=True, force=True, expired=True,
    )  # fmt: skip


async def get(session: AsyncSession, outage_id: uuid.UUID) -> ProviderOutage:
    outage = await repo.get(session, outage_id)
    if outage is None:
        raise NotFound(f"No outage {outage_id}.")
    return outage


async def backfill_run(session: AsyncSession, outage: ProviderOutage) -> JobRun | None:
    if outage.backfill_run_id is None:
        return None
    return await session.get(JobRun, outage.backfill_run_id)


async def view(session: AsyncSession, outage: ProviderOutage) -> dict[str, Any]:
    return outage_view(outage, await backfill_run(session, outage))


async def list_outages(
    session: AsyncSession,
    *,
    status: str | None,
    provider: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[ProviderOutage]:
    return await repo.page(session, status=status, provider=provider, before=before, limit=limit)
