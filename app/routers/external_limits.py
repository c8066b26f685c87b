"""`/v1/admin/external/{ratelimits, quotas, costs}`: outbound limits, quota use and spend per
provider (viewer reads; operator writes, audited)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from app.audit.service import record
from app.auth.dependencies import AuditDep
from app.db.session import SessionDep
from app.errors import InvalidInput
from app.http.openapi import error_responses
from app.resilience import overrides
from app.resilience.guards import ProviderGuard, ProviderGuards
from app.resilience.quota_windows import QuotaUsage

router = APIRouter(prefix="/v1/admin/external", tags=["external: limits and cost"])


def _guards(request: Request) -> ProviderGuards:
    guards: ProviderGuards = request.app.state.resources.providers.guards
    return guards


def _quota_view(usage: QuotaUsage) -> dict[str, Any]:
    return usage.as_dict()


async def _ratelimit_view(request: Request, guard: ProviderGuard) -> dict[str, Any]:
    limiter, usage, throttled = await asyncio.gather(
        guard.limiter.state(), guard.quota.usage(), guard.throttled_last_hour()
    )
    board = request.app.state.resources.outages
    return {
        "provider": guard.provider,
        "rate_limit": limiter,
        "quota": _quota_view(usage),
        "throttled_last_hour": throttled,
        "degraded": guard.limiter.degraded or guard.quota.degraded,
        "outage": board.get(guard.provider) if board is not None else None,
    }


@router.get("/ratelimits")
async def list_ratelimits(request: Request) -> dict[str, Any]:
    """Configured and effective outbound rate, burst, tokens, adaptive state, and quota use
    (used/limit/remaining/reset, projected exhaustion) per provider."""
    guards = list(_guards(request))
    views = await asyncio.gather(*(_ratelimit_view(request, guard) for guard in guards))
    return {"providers": {view["provider"]: view for view in views}}


@router.get("/ratelimits/{provider}")
async def get_ratelimit(provider: str, request: Request) -> dict[str, Any]:
    """One provider's view as in the list, plus `quota_by_hour`: requests counted in each hour
    of the UTC day so far (null while Redis is unreachable), to chart the day's use against
    the daily limit."""
    guard = _guards(request)[provider]
    view, hours = await asyncio.gather(_ratelimit_view(request, guard), guard.quota.hours_today())
    return {**view, "quota_by_hour": hours}


class RateLimitChange(BaseModel):
    """Fields given change; `null` goes back to the provider file's value."""

    model_config = ConfigDict(extra="forbid")

    requests_per_second: float | None = Field(default=None, gt=0, le=1000)
    burst: int | None = Field(default=None, ge=1, le=1000)
    daily_quota: int | None = Field(default=None, ge=1, le=100_000_000)
    hourly_quota: int | None = Field(default=None, ge=1, le=10_000_000)
    reason: str | None = Field(default=None, max_length=1024)


async def _change(
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    provider: str,
    changes: dict[str, Any],
    *,
    reason: str | None,
    action: str,
) -> ProviderGuard:
    """Store, audit and publish an override; this replica applies it at once, the others
    within a second."""
    guard = _guards(request)[provider]
    if reason:
        audit = dataclasses.replace(audit, reason=reason)
    redis = request.app.state.resources.redis
    await overrides.change(session, redis, audit, provider, changes, action=action)
    await _guards(request).refresh_overrides()
    return guard


@router.patch("/ratelimits/{provider}", responses=error_responses(503))
async def change_ratelimit(
    provider: str, body: RateLimitChange, request: Request, session: SessionDep, audit: AuditDep
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    if not changes:
        raise InvalidInput(
            "Nothing to change: send requests_per_second, burst, daily_quota or hourly_quota.",
            details=[{"field": "body", "message": "no field given"}],
        )
    guard = await _change(
        request, session, audit, provider, changes, reason=body.reason, action="ratelimit.change"
    )
    return await _ratelimit_view(request, guard)


@router.delete("/quotas/{provider}", responses=error_responses(503))
async def reset_quotas(
    provider: str, request: Request, session: SessionDep, audit: AuditDep
) -> dict[str, Any]:
    """Reset the current daily and hourly counters (what the runbook's `redis-cli DEL` does)."""
    guard = _guards(request)[provider]
    before = _quota_view(await guard.quota.usage())
    await guard.quota.reset()
    after = _quota_view(await guard.quota.usage())
    await record(
        session,
        audit,
        action="quota.reset",
        target=f"provider:{provider}",
        before=before,
        after=after,
    )
    return {"provider": provider, "quota": after}


@router.get("/costs")
async def list_costs(request: Request) -> dict[str, Any]:
    """Spend this month per provider against its budget, with the month-end projection."""
    reports = await asyncio.gather(*(guard.cost.report() for guard in _guards(request)))
    total = sum(report["spent_usd"] for report in reports)
    projected = sum(report["projected_month_end_usd"] for report in reports)
    return {
        "providers": {report["provider"]: report for report in reports},
        "total_spent_usd": round(total, 4),
        "total_projected_month_end_usd": round(projected, 4),
    }


class BudgetChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_budget_usd: float | None = Field(ge=0, le=10_000_000)
    reason: str | None = Field(default=None, max_length=1024)


@router.patch("/costs/{provider}", responses=error_responses(503))
async def change_budget(
    provider: str, body: BudgetChange, request: Request, session: SessionDep, audit: AuditDep
) -> dict[str, Any]:
    changes = {"monthly_budget_usd": body.monthly_budget_usd}
    guard = await _change(
        request, session, audit, provider, changes, reason=body.reason, action="cost.budget.change"
    )
    return await guard.cost.report()
