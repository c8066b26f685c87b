"""`/runtime-config/v1/features`: read and change feature flags (viewer reads, operator writes,
attached in app.main). Bodies are exactly what the runbooks send."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import AuditDep
from app.db.session import SessionDep
from app.ratelimit.limiter import RateLimiter
from app.resources import Resources
from app.runtime_config import service
from app.runtime_config.snapshot import FlagState
from app.runtime_config.status import wait_for_replicas

router = APIRouter(prefix="/runtime-config/v1/features", tags=["runtime config"])

WAIT_DESCRIPTION = (
    "Wait (at most AURUM_FLAGS_WAIT_SECONDS) until every live replica applied this version, "
    "and report how many did."
)


class FlagChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    configuration: dict[str, Any] | None = Field(
        default=None, description="Keys to change; others keep their current value"
    )
    ttl_seconds: int | None = Field(
        default=None, ge=1, le=30 * 86_400, description="Revert to the previous value after this"
    )
    reason: str | None = Field(default=None, max_length=1024)


class FlagView(BaseModel):
    name: str
    description: str
    enabled: bool
    configuration: dict[str, Any]
    version: int
    updated_by: str | None
    updated_at: datetime | None
    expires_at: datetime | None
    in_force: dict[str, Any] | None = Field(
        default=None,
        description="On reads, what the flag's consumer enforces on this replica now "
        "(api_rate_limit: the per-second limit and where it comes from)",
    )


class Propagation(BaseModel):
    version: int
    live_replicas: int
    applied: int
    complete: bool
    pending: list[str]
    waited_seconds: float
    error: str | None = None


class FlagWritten(FlagView):
    propagation: Propagation | None = Field(
        default=None, description="With ?wait=true: how many live replicas applied the change"
    )


def _with_etag(response: Response, flag: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = service.etag(flag["name"], flag["version"])
    return flag


def _in_force(request: Request, flag: dict[str, Any]) -> dict[str, Any]:
    """The flag with what its consumer really enforces here (the stored configuration alone
    can say nothing about a limit that comes from the settings)."""
    if flag["name"] == "api_rate_limit":
        limiter: RateLimiter | None = request.app.state.rate_limiter
        if limiter is None:
            flag["in_force"] = {"rps": None, "source": "AURUM_RATE_LIMIT_ENABLED=false"}
        else:
            source = "api_rate_limit flag" if limiter.override else "AURUM_RATE_LIMIT_DEFAULT"
            flag["in_force"] = {"rps": limiter.per_second(), "source": source}
    return flag


@router.get("", response_model=list[FlagView])
async def list_flags(session: SessionDep, request: Request) -> list[dict[str, Any]]:
    return [_in_force(request, flag) for flag in await service.list_flags(session)]


@router.get("/{name}", response_model=FlagView)
async def get_flag(
    name: str, session: SessionDep, request: Request, response: Response
) -> dict[str, Any]:
    return _with_etag(response, _in_force(request, await service.get_flag(session, name)))


async def _committed(
    request: Request, session: AsyncSession, flag: dict[str, Any], *, wait: bool
) -> dict[str, Any]:
    """Commit now (replicas must only hear of committed versions), publish, and optionally
    wait for the live replicas. The unit of work's own commit then has nothing left to do."""
    await session.commit()
    committed_at = time.time()
    resources: Resources = request.app.state.resources
    state = FlagState(flag["name"], flag["enabled"], flag["configuration"], flag["version"])
    await resources.flags.publish([state], committed_at)
    if wait:
        settings = resources.settings
        try:
            flag["propagation"] = await wait_for_replicas(
                resources.redis,
                resources.flags.keys,
                name=flag["name"],
                version=flag["version"],
                ttl_seconds=settings.flags_replica_ttl_seconds,
                at_most=settings.flags_wait_seconds,
            )
        except (RedisError, OSError) as exc:
            # The change is committed and replicas reconcile it; only the count is unknown.
            flag["propagation"] = {
                "version": flag["version"],
                "live_replicas": 0,
                "applied": 0,
                "complete": False,
                "pending": [],
                "waited_seconds": 0.0,
                "error": f"acknowledgements unreadable (Redis: {exc}); replicas reconcile "
                f"within {settings.flags_reconcile_seconds:g} s",
            }
    return flag


@router.post("/{name}", response_model=FlagWritten)
async def set_flag(
    name: str,
    body: FlagChange,
    session: SessionDep,
    audit: AuditDep,
    request: Request,
    response: Response,
    if_match: str | None = Header(default=None),
    wait: bool = Query(default=False, description=WAIT_DESCRIPTION),
) -> dict[str, Any]:
    flag = await service.set_flag(
        session,
        audit,
        name,
        enabled=body.enabled,
        configuration=body.configuration,
        ttl_seconds=body.ttl_seconds,
        reason=body.reason,
        if_match=if_match,
    )
    return _with_etag(response, await _committed(request, session, flag, wait=wait))


@router.delete("/{name}", response_model=FlagWritten)
async def reset_flag(
    name: str,
    session: SessionDep,
    audit: AuditDep,
    request: Request,
    response: Response,
    if_match: str | None = Header(default=None),
    wait: bool = Query(default=False, description=WAIT_DESCRIPTION),
) -> dict[str, Any]:
    flag = await service.reset_flag(session, audit, name, if_match=if_match)
    return _with_etag(response, await _committed(request, session, flag, wait=wait))


@router.get("/{name}/history")
async def flag_history(
    name: str, session: SessionDep, limit: int = Query(default=50, ge=1, le=500)
) -> list[dict[str, Any]]:
    return await service.history(session, name, limit=limit)
