"""`GET /v1/admin/whoami`: which principal and role a credential maps to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.auth.dependencies import PrincipalDep

router = APIRouter(prefix="/v1/admin", tags=["identity"])


@router.get("/whoami")
async def whoami(principal: PrincipalDep) -> dict[str, Any]:
    return {
        "id": principal.id,
        "name": principal.name,
        "role": principal.role,
        "kind": principal.kind,
    }
