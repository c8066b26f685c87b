"""Test scaffolding for the rate-limit tests: the real app plus a few open test routes, a
caller at a chosen address, and a stand-in for authentication that attaches a Principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.principal import Principal, Role
from app.main import create_app
from app.ratelimit.middleware import RateLimitMiddleware
from app.settings import Settings

PING = "/v1/_test/ping"
EXTERNAL_PING = "/v1/external/_test/ping"
OWN_HEADER = "/v1/_test/own-ratelimit-header"
PRINCIPAL_HEADER = "X-Test-Principal"


class AttachPrincipal:
    """Sits between authentication and rate limiting, and attaches the principal named by the
    X-Test-Principal header (`<name>` → id `key:<name>`), as authentication would."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("headers", []):
            if name == PRINCIPAL_HEADER.lower().encode():
                who = value.decode()
                principal = Principal(id=f"key:{who}", name=who, role=Role.READER, kind="api_key")
                scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def limited_app(settings: Settings) -> FastAPI:
    app = create_app(settings)
    router = APIRouter()

    @router.get(PING)
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    @router.get(EXTERNAL_PING)
    async def external_ping() -> dict[str, bool]:
        return {"ok": True}

    @router.get(OWN_HEADER)
    async def own_header() -> JSONResponse:
        return JSONResponse({"ok": True}, headers={"RateLimit-Limit": "999"})

    app.include_router(router)
    # user_middleware lists the outermost first: just before the limiter is just outside it.
    index = next(i for i, m in enumerate(app.user_middleware) if m.cls is RateLimitMiddleware)
    app.user_middleware.insert(index, Middleware(AttachPrincipal))
    return app


@asynccontextmanager
async def serving(*apps: FastAPI) -> AsyncIterator[None]:
    """Run every app's lifespan (each app is one replica)."""
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield


def caller(
    app: FastAPI,
    *,
    ip: str = "127.0.0.1",
    principal: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """A client whose requests reach `app` from `ip`, optionally as a principal."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    sent = dict(headers or {})
    if principal is not None:
        sent[PRINCIPAL_HEADER] = principal
    return httpx.AsyncClient(transport=transport, base_url="http://aurum.test", headers=sent)
