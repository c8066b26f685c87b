"""A dashboard session lives no longer than the key it signed in with, and the dashboard's
errors are pages, not the API's JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.auth.principal import Role
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import new_api_key
from tests.ui.http_forms import jwt_for, sign_in


@pytest.fixture
async def ui(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings) as client:
        yield client


async def test_a_session_ends_when_its_key_is_revoked_on_another_replica(
    settings: Settings, database_url: str
) -> None:
    admin, _ = await new_api_key(database_url, Role.ADMIN, name="ui-admin")
    operator, operator_id = await new_api_key(database_url, Role.OPERATOR, name="ui-revoked")
    # No key cache on the dashboard's replica: the revocation shows on its next request (by
    # default within AURUM_API_KEY_CACHE_SECONDS).
    uncached = settings.model_copy(update={"api_key_cache_seconds": 0})
    async with client_for(uncached) as ui, client_for(settings) as api:
        assert (await sign_in(ui, operator)).status_code == 303
        assert (await ui.get("/ui/jobs")).status_code == 200
        path = f"/v1/admin/api-keys/{operator_id}"
        assert (await api.delete(path, headers={"X-API-Key": admin})).status_code == 200
        page = await ui.get("/ui/jobs")
        partial = await ui.get("/ui/partials/cards", headers={"HX-Request": "true"})
    assert page.status_code == 303 and page.headers["location"] == "/ui/login"
    assert partial.status_code == 401


async def test_unknown_things_get_an_html_page_not_json(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await sign_in(ui, jwt_for(settings, Role.VIEWER))).status_code == 303
    for path, words in (
        ("/ui/providers/nope", "known providers: eia, fred, noaa, worldbank"),
        ("/ui/outages/00000000-0000-0000-0000-000000000000", "outage"),
        ("/ui/no-such-page", "No dashboard page at /ui/no-such-page"),
    ):
        answer = await ui.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "<h1>Not Found</h1>" in answer.text and words in answer.text, answer.text
        assert "Back to the overview" in answer.text
    # The API keeps its one JSON error shape.
    api = await ui.get("/v1/admin/external/health/nope")
    assert api.status_code in (401, 404)
    assert api.headers["content-type"].startswith("application/json")
