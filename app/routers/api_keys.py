"""`/v1/admin/api-keys`: create (shown once), list, revoke. Admin role (attached in app.main)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field, field_validator

from app.auth import api_keys
from app.auth.dependencies import AuditDep
from app.auth.principal import Role
from app.db.repositories import api_keys as repo
from app.db.session import SessionDep
from app.durations import parse_duration

router = APIRouter(prefix="/v1/admin/api-keys", tags=["api keys"])


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128, description="Who or what uses the key")
    role: Role
    expires_in: str | None = Field(
        default=None, description="Lifetime such as 90d, 12h, 2w; none means no expiry"
    )
    reason: str | None = Field(default=None, max_length=1024, description="Kept in the audit log")

    @field_validator("expires_in")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class KeyView(BaseModel):
    id: str
    name: str
    role: str
    prefix: str
    created_by: str | None
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyView):
    key: str = Field(description="The key itself: shown once, store it now")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_api_key(body: KeyCreate, session: SessionDep, audit: AuditDep) -> dict[str, Any]:
    expires: timedelta | None = parse_duration(body.expires_in) if body.expires_in else None
    key, plaintext = await api_keys.create_key(
        session, audit, name=body.name, role=body.role, expires_in=expires, reason=body.reason
    )
    return api_keys.public_view(key) | {"key": plaintext}


@router.get("", response_model=list[KeyView])
async def list_api_keys(session: SessionDep, include_revoked: bool = False) -> list[dict[str, Any]]:
    keys = await repo.list_all(session, include_revoked=include_revoked)
    return [api_keys.public_view(key) for key in keys]


@router.delete("/{key_id}", response_model=KeyView)
async def revoke_api_key(
    key_id: uuid.UUID, request: Request, session: SessionDep, audit: AuditDep
) -> dict[str, Any]:
    key = await api_keys.revoke_key(session, audit, key_id)
    request.app.state.resources.authenticator.api_keys.invalidate(key.prefix)
    return api_keys.public_view(key)
