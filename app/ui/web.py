"""What every dashboard view shares: the templates, the signed-in principal with its role
check, CSRF on every POST, the form body, flash messages and the HTML error pages."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import URL

from app.audit.service import AuditContext
from app.auth.principal import Principal, Role
from app.errors import AurumError
from app.http.proxies import TrustedProxies
from app.resources import Resources
from app.ui.session import SESSION_COOKIE, SessionCodec, UiSession

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
LOGIN_PATH = "/ui/login"
FLASH_COOKIE = "aurum_flash"
CSRF_REFUSED = "CSRF token missing or invalid"
ENDED_PREFIX = "aurum:ui:ended:"


class SignInRequired(Exception):
    """No valid session: pages redirect to the login form, htmx partials get a 401."""


class PageRefused(Exception):
    """A 403 page (role too low, CSRF token missing or wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def codec(request: Request) -> SessionCodec:
    sessions: SessionCodec = request.app.state.ui_sessions
    return sessions


def is_https(request: Request) -> bool:
    """Over TLS, directly or at a trusted proxy that says so (AURUM_TRUSTED_PROXY_CIDRS):
    the cookies are then Secure."""
    proxies: TrustedProxies = request.app.state.ui_proxies
    return proxies.is_https(request.scope)


def resources(request: Request) -> Resources:
    found: Resources = request.app.state.resources
    return found


def _ended_key(sid: str) -> str:
    return f"{ENDED_PREFIX}{sid}"


async def session_of(request: Request) -> UiSession:
    """The signed-in session; one that signed out (a copy of its cookie) is refused too, and
    so is one signed in with an API key since revoked or expired."""
    session = codec(request).read(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired
    principal = session.principal
    if principal.kind == "api_key":
        keys = resources(request).authenticator.api_keys
        if not await keys.in_force(principal.id.removeprefix("key:")):
            raise SignInRequired
    try:
        ended = await resources(request).redis.exists(_ended_key(session.sid))
    except (RedisError, OSError):
        ended = 0  # Redis down: the signature and expiry still hold; sign-outs wait for it
    if ended:
        raise SignInRequired
    return session


async def end_session(request: Request, session: UiSession) -> None:
    """Sign-out: the session id is refused until the cookie would have expired anyway."""
    ttl = max(1, int(session.expires - time.time()) + 1)
    with contextlib.suppress(RedisError, OSError):
        await resources(request).redis.set(_ended_key(session.sid), "1", ex=ttl)


async def viewer(request: Request) -> UiSession:
    """Every page: the API's admin area needs a viewer to read."""
    session = await session_of(request)
    if not session.principal.role.allows(Role.VIEWER):
        raise PageRefused(
            f"The dashboard needs the 'viewer' role; your credential has "
            f"'{session.principal.role.value}'."
        )
    return session


# Every page's signed-in reader, named once for all the dashboard's modules.
Viewer = Annotated[UiSession, Depends(viewer)]


async def form_of(request: Request) -> dict[str, str]:
    """The urlencoded form (the dashboard's forms upload no files): last value per field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


def _needs(session: UiSession, role: Role) -> None:
    if not session.principal.role.allows(role):
        raise PageRefused(
            f"This needs the '{role.value}' role; your credential has "
            f"'{session.principal.role.value}'."
        )


async def acting_form(request: Request, role: Role) -> tuple[UiSession, dict[str, str]]:
    """A state-changing POST: a session, a valid CSRF token and `role`."""
    session = await session_of(request)
    form = await form_of(request)
    if not codec(request).csrf_valid(session.sid, form.get("csrf_token")):
        raise PageRefused(CSRF_REFUSED)
    _needs(session, role)
    return session, form


async def operator_form(request: Request) -> tuple[UiSession, dict[str, str]]:
    """What the API's admin area asks of writes."""
    return await acting_form(request, Role.OPERATOR)


async def admin(request: Request) -> UiSession:
    """Pages only an admin may read (API keys), as the API's admin-only area."""
    session = await viewer(request)
    _needs(session, Role.ADMIN)
    return session


def page(
    request: Request,
    template: str,
    session: UiSession | None,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    values: dict[str, Any] = {
        "principal": session.principal if session else None,
        "can_act": bool(session and session.principal.role.allows(Role.OPERATOR)),
        "is_admin": bool(session and session.principal.role.allows(Role.ADMIN)),
        "csrf_token": codec(request).csrf_token(session.sid) if session else "",
        "flash": request.cookies.get(FLASH_COOKIE, ""),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    if values["flash"]:
        response.delete_cookie(FLASH_COOKIE, path="/ui")
    return response


def back(request: Request, to: str, message: str) -> RedirectResponse:
    """303 back to a page with a one-shot message."""
    response = RedirectResponse(to, status_code=303)
    secure = is_https(request)
    response.set_cookie(
        FLASH_COOKIE, message[:300], path="/ui", httponly=True, samesite="strict", secure=secure
    )
    return response


def failure_message(exc: AurumError) -> str:
    return f"Refused ({exc.status_code}): {exc.message}"


def audit_of(request: Request, session: UiSession, form: Mapping[str, str]) -> AuditContext:
    """The same audit context the API builds, with the dialog's reason."""
    return AuditContext(
        principal=session.principal,
        request_id=getattr(request.state, "request_id", None),
        reason=reason_of(form),
    )


@asynccontextmanager
async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """As the API's (app/db/session.py): committed when the block ends, rolled back on error."""
    async with resources(request).sessionmaker() as db:
        try:
            yield db
        except BaseException:
            await db.rollback()
            raise
        else:
            await db.commit()


def reason_of(form: Mapping[str, str]) -> str | None:
    reason = form.get("reason", "").strip()
    return reason[:1024] if reason else None


async def sign_in_required(request: Request, exc: Exception) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=401, headers={"HX-Redirect": LOGIN_PATH})
    return RedirectResponse(str(URL(LOGIN_PATH)), status_code=303)


async def page_refused(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, PageRefused) else "Forbidden"
    session = codec(request).read(request.cookies.get(SESSION_COOKIE))
    return page(request, "refused.html", session, {"message": message}, status_code=403)


def wants_page(request: Request) -> bool:
    """A dashboard page's request (not an asset's): its errors are answered as HTML."""
    path = request.url.path
    return (path == "/ui" or path.startswith("/ui/")) and not path.startswith("/ui/static/")


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    """An error the API would answer as JSON (unknown provider, conflict, ...), as a page."""
    heading = HTTPStatus(status_code).phrase
    session = codec(request).read(request.cookies.get(SESSION_COOKIE))
    context = {"heading": heading, "message": message, "status_code": status_code}
    return page(request, "error.html", session, context, status_code=status_code)


def principal_label(principal: Principal) -> str:
    return f"{principal.name} ({principal.role.value})"
