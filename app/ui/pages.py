"""Sign-in, sign-out and the overview (with its 5 s partial)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jose import jwt
from jose.exceptions import JWTError

from app.auth.api_keys import CredentialsUnavailable
from app.auth.authenticator import InvalidCredentials
from app.auth.keys import KEY_PREFIX
from app.auth.principal import Principal, Role
from app.routers import external_health
from app.ui.session import LOGIN_COOKIE, SESSION_COOKIE
from app.ui.web import (
    CSRF_REFUSED,
    PageRefused,
    Viewer,
    codec,
    end_session,
    form_of,
    is_https,
    page,
    resources,
    session_of,
)

router = APIRouter(prefix="/ui", include_in_schema=False)

NOT_ACCEPTED = "That key or token was not accepted."


def _login_form(request: Request, nonce: str, message: str = "", status_code: int = 200) -> Any:
    response = page(
        request,
        "login.html",
        None,
        {"login_token": codec(request).csrf_token(f"login:{nonce}"), "message": message},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_COOKIE, nonce, path="/ui", httponly=True, samesite="strict", secure=is_https(request)
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(16)
    return _login_form(request, nonce)


async def _authenticate(request: Request, credential: str) -> tuple[Principal, float | None]:
    """The principal the API would see for this credential, and a token's own expiry."""
    authenticator = resources(request).authenticator
    if credential.startswith(f"{KEY_PREFIX}_"):
        principal = await authenticator.authenticate(api_key=credential, authorization=None)
        expires = None
    else:
        principal = await authenticator.authenticate(
            api_key=None, authorization=f"Bearer {credential}"
        )
        try:
            expires = float(jwt.get_unverified_claims(credential)["exp"])
        except (JWTError, KeyError, TypeError, ValueError):
            expires = None
    if principal is None:
        raise InvalidCredentials
    return principal, expires


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await form_of(request)
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not codec(request).csrf_valid(f"login:{nonce}" if nonce else None, form.get("csrf_token")):
        raise PageRefused(CSRF_REFUSED)
    assert nonce is not None
    credential = form.get("credential", "").strip()
    try:
        principal, expires = await _authenticate(request, credential)
    except InvalidCredentials:
        return _login_form(request, nonce, NOT_ACCEPTED, 401)
    except CredentialsUnavailable:
        message = "The key cannot be checked now (the database is not answering); retry soon."
        return _login_form(request, nonce, message, 503)
    if not principal.role.allows(Role.VIEWER):
        message = f"The dashboard needs the 'viewer' role; this credential has '{principal.role}'."
        return _login_form(request, nonce, message, 403)
    value, max_age = codec(request).issue(principal, not_after=expires)
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = await session_of(request)
    form = await form_of(request)
    if not codec(request).csrf_valid(session.sid, form.get("csrf_token")):
        raise PageRefused(CSRF_REFUSED)
    await end_session(request, session)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


async def overview_data(request: Request) -> dict[str, Any]:
    """The API's health overview (`GET /v1/admin/external/health`), through its handler and
    its per-replica view cache."""
    answer = await external_health.external_health(request)
    body: dict[str, Any] = json.loads(bytes(answer.body))
    return body


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, session: Viewer) -> Response:
    health = await overview_data(request)
    return page(request, "overview.html", session, {"health": health})


@router.get("/partials/cards", response_class=HTMLResponse)
async def cards(request: Request, session: Viewer) -> Response:
    health = await overview_data(request)
    return page(request, "_cards.html", session, {"health": health})
