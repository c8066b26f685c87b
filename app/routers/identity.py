"""`GET /v1/admin/whoami`: which principal and role a credential maps to."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from app.auth.dependencies import principal_of
from app.auth.principal import Principal, Role
from app.http.routing import RequestOnlyRoute

# whoami takes only the request: called directly (app/http/routing.py, RequestOnlyRoute).
router = APIRouter(prefix="/v1/admin", tags=["identity"], route_class=RequestOnlyRoute)


class WhoAmI(BaseModel):
    id: str
    name: str
    role: Role
    kind: Literal["api_key", "jwt", "system"]


@lru_cache(maxsize=1024)
def _body(principal: Principal) -> bytes:
    # The same few principals ask again and again (dashboards poll): their answer is bytes
    # made once, not a dict validated and serialised on every request.
    view = {
        "id": principal.id,
        "name": principal.name,
        "role": principal.role.value,
        "kind": principal.kind,
    }
    return json.dumps(view, separators=(",", ":")).encode()


@router.get("/whoami", response_model=WhoAmI)
async def whoami(request: Request) -> Response:
    return Response(_body(principal_of(request)), media_type="application/json")
