"""Requests dispatched through the route index answer exactly as the app's router would: the
same route, path parameters, 404, 405 and trailing-slash redirect, and routes added later."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.auth.principal import Role
from app.http.routing import RouteIndex, literal_prefix
from app.main import create_app
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer


def test_every_route_of_the_app_has_a_literal_prefix(settings: Settings) -> None:
    app = create_app(settings)
    assert isinstance(app.router.middleware_stack, RouteIndex)
    for route in app.router.routes:
        assert isinstance(route, APIRoute) or route.path in {  # type: ignore[attr-defined]
            "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
        }  # fmt: skip
        prefix = literal_prefix(route)
        assert prefix and route.path.startswith(prefix)  # type: ignore[attr-defined]


async def test_indexed_dispatch_matches_the_router(settings: Settings) -> None:
    viewer = bearer(settings, Role.VIEWER)
    async with client_for(settings) as client:
        # A parameter late in the route list, and its sibling without one.
        one = await client.get("/v1/admin/external/health/fred", headers=viewer)
        assert one.status_code == 200 and one.json()["provider"] == "fred"
        missing = await client.get("/v1/admin/external/health/nope", headers=viewer)
        assert missing.status_code == 404 and "known providers" in missing.json()["message"]
        # A path no route matches, a method no route allows, a trailing slash.
        assert (await client.get("/v1/admin/no-such", headers=viewer)).status_code == 404
        wrong = await client.delete("/v1/admin/whoami", headers=bearer(settings, Role.ADMIN))
        assert wrong.status_code == 405
        slash = await client.get("/v1/admin/whoami/", headers=viewer)
        assert slash.status_code == 307 and slash.headers["location"].endswith("/v1/admin/whoami")
        assert (await client.get("/openapi.json")).status_code in {200, 401}


async def test_a_route_added_after_the_index_was_built_is_served(settings: Settings) -> None:
    async with client_for(settings) as client:
        app: FastAPI = client._transport.app  # type: ignore[attr-defined]
        assert (await client.get("/health")).status_code == 200  # index built

        async def late() -> dict[str, str]:
            return {"late": "yes"}

        app.router.add_api_route("/ready/late", late)
        response = await client.get("/ready/late")
        assert response.status_code == 200 and response.json() == {"late": "yes"}


async def test_the_trailing_slash_redirect_is_relative_whatever_the_host_says(
    settings: Settings,
) -> None:
    viewer = bearer(settings, Role.VIEWER)
    async with client_for(settings) as client:
        for host in ("evil.example", "evil.example:8443", "aurum.test"):
            slash = await client.get(
                "/v1/admin/audit/", params={"limit": "5"}, headers=viewer | {"Host": host}
            )
            assert slash.status_code == 307
            assert slash.headers["location"] == "/v1/admin/audit?limit=5"
        # The other direction, and a path that only looks like a route's.
        added = await client.get("/v1/admin/external/health/fred/", headers=viewer)
        assert added.headers["location"] == "/v1/admin/external/health/fred"
        assert (await client.get("//evil.example/", headers=viewer)).status_code == 404
