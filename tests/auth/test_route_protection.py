"""Walks the route table: only /health, /ready and /metrics (and the docs) are open, and
every other route refuses a caller without credentials and a role that is too low."""

from __future__ import annotations

from app.auth.principal import Role
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.routes import app_routes, concrete

OPEN = {"/health", "/ready", "/metrics"}


def _routes(settings: Settings) -> list[tuple[str, str]]:
    return [(method, path) for method, path in app_routes(settings) if path not in OPEN]


async def test_every_non_probe_route_requires_credentials(settings: Settings) -> None:
    routes = _routes(settings)
    assert routes, "no routes found"
    async with client_for(settings) as client:
        for method, path in routes:
            response = await client.request(method, concrete(path))
            assert response.status_code == 401, f"{method} {path} answered {response.status_code}"


async def test_a_reader_cannot_use_the_admin_area(settings: Settings) -> None:
    async with client_for(settings) as client:
        for method, path in _routes(settings):
            if not path.startswith(("/v1/admin", "/runtime-config")):
                continue
            response = await client.request(
                method, concrete(path), headers=bearer(settings, Role.READER)
            )
            assert response.status_code == 403, f"{method} {path} let a reader in"


async def test_a_viewer_may_read_but_not_change(settings: Settings) -> None:
    async with client_for(settings) as client:
        read = await client.get("/v1/admin/audit", headers=bearer(settings, Role.VIEWER))
        assert read.status_code == 200
        for method, path in _routes(settings):
            if method in {"GET", "HEAD"} or not path.startswith(("/v1/admin", "/runtime-config")):
                continue
            response = await client.request(
                method, concrete(path), headers=bearer(settings, Role.VIEWER), json={}
            )
            assert response.status_code == 403, f"{method} {path} let a viewer change things"


async def test_probes_stay_open(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/health", "/ready", "/metrics"):
        assert (await client.get(path)).status_code == 200
