"""Fresh health views, answered before routing (app/http/fast_path.py).

`GET /v1/admin/external/health` (and its alias `/health/external`) is what the ops dashboard
polls. While this replica's view is in its first half-interval (app/health/view_cache.py) it
is sent from here; past that, or with a query string, the request goes to the route, which
serves the view and refreshes it ahead of time. The route is recorded in the scope as routing
would have, so the HTTP metrics label the request with its route.
"""

from __future__ import annotations

from starlette.routing import BaseRoute
from starlette.types import Scope

from app.http.fast_path import Answer, json_headers
from app.routers.external_health import OVERVIEW_KEY, health_alias, router

PATHS = frozenset({router.prefix, health_alias.prefix})
_routes: dict[str, BaseRoute] = {}


async def cached_overview(scope: Scope) -> Answer | None:
    path = scope["path"]
    if path not in PATHS or scope["query_string"]:
        return None
    app = scope["app"]
    body = app.state.health_views.fresh(OVERVIEW_KEY)
    if body is None:
        return None
    route = _routes.get(path)
    if route is None:
        route = _routes[path] = next(r for r in app.router.routes if getattr(r, "path", "") == path)
    scope["route"] = route
    return 200, json_headers(body), body
