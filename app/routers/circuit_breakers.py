"""`/v1/admin/external/circuit-breakers`: see and steer every provider's breaker (viewer
reads; operator writes, audited), and the runbooks' legacy
`POST /admin/reset-circuit-breaker?provider=fred`. A reset probes the provider at once (the
answer's `probe`) and marks a recovery (app/resilience/recovery.py)."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from app.audit.service import AuditContext, record
from app.auth.dependencies import AuditDep
from app.db.session import SessionDep
from app.jobs.probing import OPERATOR_PROBE_SECONDS, probe_provider
from app.resilience import recovery
from app.resilience.guards import ProviderGuards

router = APIRouter(prefix="/v1/admin/external/circuit-breakers", tags=["external: breakers"])
legacy_router = APIRouter(prefix="/admin", tags=["external: breakers"])

MAX_TTL_SECONDS = 7 * 86_400


class BreakerAction(StrEnum):
    RESET = "reset"
    FORCE_OPEN = "force-open"
    DISABLE = "disable"


class BreakerCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: float | None = Field(
        default=None, gt=0, le=MAX_TTL_SECONDS, description="Revert to CLOSED after this"
    )
    reason: str | None = Field(default=None, max_length=1024)


def _guards(request: Request) -> ProviderGuards:
    guards: ProviderGuards = request.app.state.resources.providers.guards
    return guards


async def _view(request: Request, provider: str, events: int = 10) -> dict[str, Any]:
    breaker = _guards(request)[provider].breaker
    snapshot, recent = await asyncio.gather(breaker.snapshot(), breaker.events(events))
    return snapshot | {"events": recent}


@router.get("")
async def list_breakers(request: Request) -> dict[str, Any]:
    names = _guards(request).names
    views = await asyncio.gather(*(_view(request, name, events=5) for name in names))
    return {"providers": dict(zip(names, views, strict=True))}


@router.get("/{provider}")
async def get_breaker(
    provider: str, request: Request, events: int = Query(default=20, ge=1, le=100)
) -> dict[str, Any]:
    return await _view(request, provider, events)


async def apply(
    request: Request,
    session: SessionDep,
    audit: AuditContext,
    provider: str,
    action: BreakerAction,
    command: BreakerCommand,
) -> dict[str, Any]:
    breaker = _guards(request)[provider].breaker
    before = await breaker.snapshot()
    reason = command.reason or audit.reason
    actor = audit.principal.id
    probe = None
    if action is BreakerAction.RESET:
        await breaker.reset(actor=actor, reason=reason)
        # Test the provider now (before this request's transaction opens), so health shows
        # how it is rather than the failures that opened the breaker; then mark the recovery.
        resources = request.app.state.resources
        probe = await probe_provider(
            resources, resources.scheduler.targets, provider,
            timeout_seconds=OPERATOR_PROBE_SECONDS,
        )  # fmt: skip
        await recovery.mark(session, provider, f"circuit breaker reset by {actor}")
    elif action is BreakerAction.FORCE_OPEN:
        await breaker.force_open(actor=actor, reason=reason, ttl_seconds=command.ttl_seconds)
    else:
        await breaker.disable(actor=actor, reason=reason, ttl_seconds=command.ttl_seconds)
    after = await breaker.snapshot()
    await record(
        session,
        audit,
        action=f"breaker.{action.value}",
        target=f"provider:{provider}",
        before={"state": before["state"]},
        after={"state": after["state"], "ttl_seconds": command.ttl_seconds},
        reason=reason,
    )
    view = await _view(request, provider)
    return view if probe is None else view | {"probe": probe}


@router.post("/{provider}/{action}")
async def steer_breaker(
    provider: str,
    action: BreakerAction,
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    command: BreakerCommand | None = None,
) -> dict[str, Any]:
    return await apply(request, session, audit, provider, action, command or BreakerCommand())


@legacy_router.post("/reset-circuit-breaker")
async def legacy_reset(
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    provider: str = Query(description="fred, eia, noaa or worldbank"),
) -> dict[str, Any]:
    """The runbooks' older form of `POST /v1/admin/external/circuit-breakers/{p}/reset`."""
    return await apply(request, session, audit, provider, BreakerAction.RESET, BreakerCommand())
