"""Send each request straight to the few routes its path could match.

Starlette matches a request against the app's routes in order, and FastAPI's `APIRoute.matches`
costs a few microseconds per route even when the path cannot match (scope bookkeeping, then
the route's regular expression). The service has about fifty routes, so a request for one near
the end (`/v1/admin/external/health` is the 42nd) spent more CPU on routing than on the rest of
its middleware stack together (bench/api_overhead).

`RouteIndex` replaces the app router's dispatch. A route can only match a path that starts with
the literal text before its first parameter (`/v1/admin/external/health/` for
`/v1/admin/external/health/{provider}`), so for each path it keeps the routes whose literal
prefix the path starts with, in their original order, as a small router of their own; that
router runs FastAPI's own matching over them (first full match wins, a method mismatch is a
405, path parameters, the selected route in the scope). Nothing else changes:

- a route whose prefix cannot be known (a mount, a nested router) is a candidate everywhere;
- a path none of the candidates matches goes to the whole router, which answers exactly as
  before (the 404, the trailing-slash redirect, see `RelativeSlashRedirect`);
- routes added after the index was built are seen: it is rebuilt when the route list changes;
- the scope's `router` stays the app's router, so `url_for` sees every route.

Paths are remembered (up to `MAX_PATHS` distinct ones, then the memory starts over), so the
prefix tests run once per distinct path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_PATHS = 4096


def literal_prefix(route: BaseRoute) -> str:
    """What every path the route matches starts with ("" when unknown)."""
    if isinstance(route, Route | WebSocketRoute):
        return route.path_format.split("{", 1)[0]
    return ""


class RouteIndex:
    def __init__(self, router: APIRouter) -> None:
        self._router = router
        self._whole: ASGIApp = router.app
        self._routes: list[BaseRoute] = []
        self._prefixes: list[tuple[str, BaseRoute]] = []
        self._groups: dict[tuple[int, ...], APIRouter] = {}
        self._by_path: dict[str, APIRouter | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._whole(scope, receive, send)
            return
        path = get_route_path(scope) if scope.get("root_path") else scope["path"]
        group = self._group_for(path)
        if group is None:
            await self._whole(scope, receive, send)
            return
        scope.setdefault("router", self._router)
        await group.app(scope, receive, send)

    def _group_for(self, path: str) -> APIRouter | None:
        routes = self._router.routes
        if len(routes) != len(self._routes) or routes[-1:] != self._routes[-1:]:
            self._rebuild(routes)
        try:
            return self._by_path[path]
        except KeyError:
            pass
        chosen = tuple(i for i, (prefix, _) in enumerate(self._prefixes) if path.startswith(prefix))
        group = self._groups.get(chosen) if chosen else None
        if chosen and group is None:
            group = self._groups[chosen] = self._group(chosen)
        if len(self._by_path) >= MAX_PATHS:
            self._by_path.clear()
        self._by_path[path] = group
        return group

    def _group(self, chosen: tuple[int, ...]) -> APIRouter:
        # No redirect of its own, and what none of its routes matches goes to the whole router.
        group = APIRouter(redirect_slashes=False)
        group.routes = [self._prefixes[i][1] for i in chosen]
        group.default = self._whole
        return group

    def _rebuild(self, routes: list[BaseRoute]) -> None:
        self._routes = list(routes)
        self._prefixes = [(literal_prefix(route), route) for route in routes]
        self._groups.clear()
        self._by_path.clear()


class RelativeSlashRedirect:
    """The router's answer for a path no route matches: a 307 to the same path with its
    trailing slash toggled when a route matches that, else the router's 404.

    Starlette's own redirect writes an absolute `Location` built from the request's `Host`
    header, so `Host: evil.example` sent the client to evil.example. This one is relative
    (`/v1/admin/audit?limit=5`), which every HTTP client resolves against the URL it used."""

    def __init__(self, router: APIRouter, default: ASGIApp) -> None:
        self._router = router
        self._default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        location = self._location(scope) if scope["type"] == "http" else None
        if location is None:
            await self._default(scope, receive, send)
            return
        await RedirectResponse(location, status_code=307)(scope, receive, send)

    def _location(self, scope: Scope) -> str | None:
        path = scope["path"]
        if path == "/" or path.startswith("//"):  # "//host" would be a protocol-relative URL
            return None
        toggled = dict(scope, path=path.rstrip("/") if path.endswith("/") else path + "/")
        if not any(route.matches(toggled)[0] is not Match.NONE for route in self._router.routes):
            return None
        location = quote(scope.get("root_path", "") + toggled["path"])
        query = scope.get("query_string", b"")
        return f"{location}?{query.decode('latin-1')}" if query else location


def index_routes(app: FastAPI) -> None:
    """Dispatch `app`'s requests through a RouteIndex (call once its routes are added), with
    relative trailing-slash redirects."""
    app.router.redirect_slashes = False
    app.router.default = RelativeSlashRedirect(app.router, app.router.default)
    app.router.middleware_stack = RouteIndex(app.router)


class RequestOnlyRoute(APIRoute):
    """An APIRoute whose endpoint takes only the request and returns a Response is called
    directly: FastAPI's dependency solving, validation and serialisation would run for nothing
    (no parameter to parse, nothing to serialise), and on a cheap route they cost more than the
    endpoint (bench/api_overhead). Any other endpoint is handled as FastAPI handles it. The
    route's declaration (path, response model, OpenAPI) is unchanged."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        dependant = self.dependant
        name = dependant.request_param_name
        plain = (
            name is not None
            and not dependant.path_params
            and not dependant.query_params
            and not dependant.header_params
            and not dependant.cookie_params
            and not dependant.body_params
            and not dependant.dependencies
            and dependant.background_tasks_param_name is None
            and dependant.websocket_param_name is None
            and dependant.http_connection_param_name is None
            and dependant.response_param_name is None
            and dependant.security_scopes_param_name is None
            and inspect.iscoroutinefunction(self.endpoint)
        )
        if not plain or name is None:
            return super().get_route_handler()
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response = await endpoint(**{name: request})
            if not isinstance(response, Response):  # declared to return a Response
                raise TypeError(f"{endpoint!r} must return a Response")
            return response

        return handler
