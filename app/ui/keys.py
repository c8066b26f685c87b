"""API keys (admin only, as `/v1/admin/api-keys`): list, create (the key shown once, on the
answer page, never in a cookie or a redirect) and revoke, through the API's handlers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.auth.principal import Role
from app.errors import AurumError
from app.routers import api_keys as keys_api
from app.ui.session import UiSession
from app.ui.web import (
    acting_form,
    admin,
    audit_of,
    back,
    failure_message,
    page,
    reason_of,
    unit_of_work,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
Admin = Annotated[UiSession, Depends(admin)]


async def _keys_page(
    request: Request, session: UiSession, extra: dict[str, Any] | None = None
) -> Response:
    async with unit_of_work(request) as db:
        keys = await keys_api.list_api_keys(db, include_revoked=False)
    context = {"keys": keys, "roles": [role.value for role in Role], **(extra or {})}
    return page(request, "keys.html", session, context)


@router.get("/keys", response_class=HTMLResponse)
async def keys_page(request: Request, session: Admin) -> Response:
    return await _keys_page(request, session)


@router.post("/keys", response_class=HTMLResponse)
async def create(request: Request) -> Response:
    session, form = await acting_form(request, Role.ADMIN)
    try:
        body = keys_api.KeyCreate(
            name=form.get("name", ""),
            role=Role(form.get("role", "")),
            expires_in=form.get("expires_in", "").strip() or None,
            reason=reason_of(form),
        )
        async with unit_of_work(request) as db:
            created = await keys_api.create_api_key(body, db, audit_of(request, session, form))
    except (ValidationError, ValueError) as exc:
        return await _keys_page(request, session, {"problem": f"Not created: {exc}"})
    except AurumError as exc:
        return await _keys_page(request, session, {"problem": failure_message(exc)})
    return await _keys_page(request, session, {"created": created})


@router.post("/keys/{key_id}/revoke")
async def revoke(request: Request, key_id: uuid.UUID) -> Response:
    session, form = await acting_form(request, Role.ADMIN)
    try:
        async with unit_of_work(request) as db:
            key = await keys_api.revoke_api_key(
                key_id, request, db, audit_of(request, session, form)
            )
    except AurumError as exc:
        return back(request, "/ui/keys", failure_message(exc))
    return back(request, "/ui/keys", f"Key {key['name']} ({key['prefix']}) revoked.")
