"""What the API shows of an outage: the OutageView, its short form on health and ratelimits,
and the request bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python

from app.db.models import JobRun, ProviderOutage
from app.outages.wording import change_text

DEFAULT_TTL_SECONDS = 14_400


class OutageActions(BaseModel):
    """Which parts of the runbook's mitigation to apply; the defaults are the runbook's."""

    model_config = ConfigDict(extra="forbid")

    pause_jobs: bool = True
    force_open_breaker: bool = True
    read_cache: bool = True
    fallback: bool = Field(default=False, description="provider_fallback: read from its mirror")


class DeclareCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=32, description="fred, eia, noaa or worldbank")
    reason: str = Field(min_length=1, max_length=1024)
    ttl_seconds: int = Field(default=DEFAULT_TTL_SECONDS, ge=60, le=604_800)
    actions: OutageActions = Field(default_factory=OutageActions)


class ResolveCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, min_length=1, max_length=1024)
    backfill: bool = Field(default=True, description="Queue a backfill of the outage window")
    force: bool = Field(default=False, description="Resolve even though the probe fails")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def backfill_view(outage: ProviderOutage, run: JobRun | None) -> dict[str, Any] | None:
    if outage.backfill_run_id is None:
        return None
    return {
        "run_id": str(outage.backfill_run_id),
        "status": run.status if run is not None else None,
        "window_start": _iso(outage.window_start),
        "window_end": _iso(outage.window_end),
        "rows_new": run.rows_new if run is not None else None,
        "rows_changed": run.rows_changed if run is not None else None,
    }


def outage_view(outage: ProviderOutage, run: JobRun | None = None) -> dict[str, Any]:
    """The OutageView of the contract (plain JSON types)."""
    view = {
        "id": str(outage.id),
        "provider": outage.provider,
        "status": outage.status,
        "reason": outage.reason,
        "declared_by": outage.declared_by,
        "declared_at": _iso(outage.declared_at),
        "expires_at": _iso(outage.expires_at),
        "actions": [a | {"change": change_text(a)} for a in outage.applied_actions or []],
        "resolved_at": _iso(outage.resolved_at),
        "resolved_by": outage.resolved_by,
        "resolve_reason": outage.resolve_reason,
        "resolution": outage.resolution or None,
        "backfill": backfill_view(outage, run),
        "completeness": outage.completeness,
    }
    return dict(to_jsonable_python(view))


def summary(outage: ProviderOutage) -> dict[str, Any]:
    """The `outage` field of health and ratelimits."""
    return {
        "id": str(outage.id),
        "since": _iso(outage.declared_at),
        "declared_by": outage.declared_by,
        "reason": outage.reason,
        "expires_at": _iso(outage.expires_at),
    }
