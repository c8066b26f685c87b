"""Put the dashboard on the app: its routes (outside the JSON API's access policies: every
page checks the session cookie itself), its static files and its error pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AurumError, NotFound
from app.http.proxies import TrustedProxies
from app.settings import Settings
from app.ui import audit, backfill, flags, jobs, keys, outages, pages, providers, series
from app.ui.session import SessionCodec
from app.ui.web import (
    HERE,
    PageRefused,
    SignInRequired,
    error_page,
    page_refused,
    sign_in_required,
    wants_page,
)

STATIC = HERE / "static"
_TYPES = {".css": "text/css", ".js": "text/javascript", ".txt": "text/plain"}
_ROUTERS = (
    pages.router,
    jobs.router,
    outages.router,
    backfill.router,
    providers.router,
    audit.router,
    flags.router,
    keys.router,
    series.router,
)


def _static_router() -> APIRouter:
    """The vendored and own assets, served from a fixed list (no directory walking per
    request), cacheable for an hour."""
    files = {str(p.relative_to(STATIC)): p for p in STATIC.rglob("*") if p.is_file()}
    router = APIRouter(prefix="/ui/static", include_in_schema=False)

    @router.get("/{name:path}")
    async def static(name: str) -> Response:
        path: Path | None = files.get(name)
        if path is None:
            raise NotFound(f"No dashboard asset {name!r}.")
        media = _TYPES.get(path.suffix, "text/plain")
        return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=3600"})

    return router


def _as_pages(app: FastAPI, error: type[Exception]) -> None:
    """The dashboard's errors as HTML pages; the API's stay in the one JSON shape (the
    handler installed by app.http.errors answers everything else)."""
    answer_json = cast(
        Callable[[Request, Exception], Awaitable[Response]], app.exception_handlers[error]
    )

    async def handler(request: Request, exc: Exception) -> Response:
        if not wants_page(request):
            return await answer_json(request, exc)
        if isinstance(exc, AurumError):
            return error_page(request, exc.status_code, exc.message)
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_page(request, 404, f"No dashboard page at {request.url.path}.")
        return error_page(request, exc.status_code, str(exc.detail))

    app.add_exception_handler(error, handler)


def install_ui(app: FastAPI, settings: Settings) -> None:
    """After app.http.errors' handlers, which the dashboard's wrap."""
    app.state.ui_sessions = SessionCodec(settings)
    app.state.ui_proxies = TrustedProxies(settings.trusted_proxy_cidrs)
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(PageRefused, page_refused)
    _as_pages(app, AurumError)
    _as_pages(app, StarletteHTTPException)
    for router in (*_ROUTERS, _static_router()):
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f"{route!r}: only API routes can be included flat")
            app.router.routes.append(route)
