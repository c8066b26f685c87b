"""`/runtime-config/v1/features`: read and change feature flags (viewer reads, operator writes,
attached in app.main). Bodies are exactly what the runbooks send."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import AuditDep
from app.db.session import SessionDep
from app.runtime_config import service

router = APIRouter(prefix="/runtime-config/v1/features", tags=["runtime config"])


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


def _with_etag(response: Response, flag: dict[str, Any]) -> dict[str, Any]:
    response.headers["ETag"] = service.etag(flag["name"], flag["version"])
    return flag


@router.get("", response_model=list[FlagView])
async def list_flags(session: SessionDep) -> list[dict[str, Any]]:
    return await service.list_flags(session)


@router.get("/{name}", response_model=FlagView)
async def get_flag(name: str, session: SessionDep, response: Response) -> dict[str, Any]:
    return _with_etag(response, await service.get_flag(session, name))


@router.post("/{name}", response_model=FlagView)
async def set_flag(
    name: str,
    body: FlagChange,
    session: SessionDep,
    audit: AuditDep,
    response: Response,
    if_match: str | None = Header(default=None),
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
    return _with_etag(response, flag)


@router.delete("/{name}", response_model=FlagView)
async def reset_flag(
    name: str,
    session: SessionDep,
    audit: AuditDep,
    response: Response,
    if_match: str | None = Header(default=None),
) -> dict[str, Any]:
    return _with_etag(response, await service.reset_flag(session, audit, name, if_match=if_match))


@router.get("/{name}/history")
async def flag_history(
    name: str, session: SessionDep, limit: int = Query(default=50, ge=1, le=500)
) -> list[dict[str, Any]]:
    return await service.history(session, name, limit=limit)
