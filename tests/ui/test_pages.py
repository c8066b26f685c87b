"""The dashboard's server side over HTTP (in-process): sign-in and its cookie, CSRF, CSP,
roles. The browser tests (tests/ui/test_browser_*.py) drive the same pages in Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.routing import APIRoute

from app.auth.principal import Role
from app.main import create_app
from app.ratelimit.rules import RuleSet
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer, new_api_key
from tests.support.routes import concrete
from tests.ui.http_forms import form_token, jwt_for, sign_in


@pytest.fixture
async def ui(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings) as client:
        yield client


async def test_signing_in_with_a_key_sets_a_strict_session_cookie(
    ui: httpx.AsyncClient, database_url: str
) -> None:
    key, _ = await new_api_key(database_url, Role.OPERATOR, name="ui-test")
    answer = await sign_in(ui, key)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/"
    cookie = next(
        value
        for value in answer.headers.get_list("set-cookie")
        if value.startswith("aurum_session=")
    )
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=strict" in flags
    assert "max-age=28800" in flags and "path=/ui" in flags
    assert "secure" not in flags  # plain http here; https adds it
    overview = await ui.get("/ui/")
    assert overview.status_code == 200
    for provider in ("fred", "eia", "noaa", "worldbank"):
        assert f'data-provider="{provider}"' in overview.text
    assert 'hx-get="/ui/partials/cards"' in overview.text


async def test_a_wrong_credential_gets_the_login_page_again(ui: httpx.AsyncClient) -> None:
    answer = await sign_in(ui, "aur_nottrue_" + "x" * 43)
    assert answer.status_code == 401
    assert "That key or token was not accepted." in answer.text
    assert "aurum_session" not in answer.headers.get("set-cookie", "")


async def test_every_ui_response_has_the_strict_csp(ui: httpx.AsyncClient) -> None:
    for path in ("/ui/login", "/ui/static/ui.css", "/ui/"):
        csp = (await ui.get(path)).headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    page = (await ui.get("/ui/login")).text
    assert "<script>" not in page and "style=" not in page


async def test_not_signed_in_is_sent_to_the_login_page(ui: httpx.AsyncClient) -> None:
    for path in ("/ui", "/ui/", "/ui/jobs", "/ui/audit", "/ui/outages", "/ui/backfill"):
        answer = await ui.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/ui/login"
    partial = await ui.get("/ui/partials/cards", headers={"HX-Request": "true"})
    assert partial.status_code == 401
    assert partial.headers["hx-redirect"] == "/ui/login"
    # API credentials in headers do not open the dashboard: it signs in by its cookie only.
    with_header = await ui.get("/ui/", headers={"X-API-Key": "aur_whatever"})
    assert with_header.status_code == 303


async def test_a_post_without_the_csrf_token_is_refused(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    login = await ui.post("/ui/login", data={"credential": jwt_for(settings, Role.OPERATOR)})
    assert login.status_code == 403
    assert "CSRF token missing or invalid" in login.text
    assert (await sign_in(ui, jwt_for(settings, Role.OPERATOR))).status_code == 303
    for data in ({}, {"csrf_token": "0" * 64}):
        answer = await ui.post("/ui/logout", data=data)
        assert answer.status_code == 403
        assert "CSRF token missing or invalid" in answer.text
    token = form_token((await ui.get("/ui/")).text)
    kept = ui.cookies.get("aurum_session", path="/ui")
    assert kept
    assert (await ui.get("/ui/", headers={"Cookie": f"aurum_session={kept}"})).status_code == 200
    out = await ui.post("/ui/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert (await ui.get("/ui/")).status_code == 303
    # A copy of the signed-out cookie is refused as well: sign-out ends the session.
    replayed = await ui.get("/ui/", headers={"Cookie": f"aurum_session={kept}"})
    assert replayed.status_code == 303


async def test_a_reader_cannotsign_in(ui: httpx.AsyncClient, settings: Settings) -> None:
    answer = await sign_in(ui, jwt_for(settings, Role.READER))
    assert answer.status_code == 403
    assert "viewer" in answer.text


async def test_a_viewer_sees_no_controls_and_a_forged_pause_is_refused(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await sign_in(ui, jwt_for(settings, Role.VIEWER))).status_code == 303
    jobs = await ui.get("/ui/jobs")
    assert jobs.status_code == 200
    assert 'data-job="ingest.fred"' in jobs.text
    assert "data-action=" not in jobs.text and 'id="reason-dialog"' not in jobs.text
    token = form_token(jobs.text)  # the sign-out form's: a valid token for this session
    forged = await ui.post("/ui/jobs/ingest.fred/pause", data={"csrf_token": token, "reason": "x"})
    assert forged.status_code == 403
    assert "operator" in forged.text
    state = await ui.get("/ui/jobs")
    assert "paused" not in state.text.split('data-job="ingest.fred"')[1].split("</tr>")[0]


async def test_an_operator_pauses_with_a_reason_that_the_audit_keeps(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    headers = bearer(settings, Role.OPERATOR, subject="ui-operator")
    assert (await sign_in(ui, jwt_for(settings, Role.OPERATOR))).status_code == 303
    jobs = await ui.get("/ui/jobs")
    assert 'id="reason-dialog"' in jobs.text
    assert 'data-action="/ui/jobs/ingest.noaa/pause"' in jobs.text
    token = form_token(jobs.text)
    reason = "ui test: provider maintenance"
    try:
        paused = await ui.post(
            "/ui/jobs/ingest.noaa/pause", data={"csrf_token": token, "reason": reason}
        )
        assert paused.status_code == 303 and paused.headers["location"] == "/ui/jobs"
        after = await ui.get("/ui/jobs")
        assert "ingest.noaa paused." in after.text
        assert 'data-action="/ui/jobs/ingest.noaa/resume"' in after.text
        audit = await ui.get("/v1/admin/audit", params={"action": "job.pause"}, headers=headers)
        assert any(
            entry["reason"] == reason and entry["target"] == "job:ingest.noaa"
            for entry in audit.json()["items"]
        )
        page = await ui.get("/ui/audit", params={"action": "job.pause"})
        assert page.status_code == 200 and reason in page.text
    finally:
        await ui.post(
            "/v1/admin/external/jobs/ingest.noaa/resume", json={"reason": "cleanup"},
            headers=headers,
        )  # fmt: skip


async def test_an_operator_declares_reads_and_resolves_an_outage(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await sign_in(ui, jwt_for(settings, Role.OPERATOR))).status_code == 303
    listing = await ui.get("/ui/outages")
    assert listing.status_code == 200 and 'id="declare-form"' in listing.text
    token = form_token(listing.text)
    declared = await ui.post(
        "/ui/outages",
        data={"csrf_token": token, "provider": "worldbank", "reason": "ui", "ttl_minutes": "5"},
    )
    assert declared.status_code == 303, declared.text
    detail_path = declared.headers["location"]
    assert detail_path.startswith("/ui/outages/")
    detail = await ui.get(detail_path)
    assert "Outage of worldbank declared." in detail.text
    assert 'id="timeline-table"' in detail.text and "# Outage of worldbank" in detail.text
    resolved = await ui.post(
        f"{detail_path}/resolve", data={"csrf_token": token, "reason": "back", "force": "on"}
    )
    assert resolved.status_code == 303
    after = await ui.get(detail_path)
    assert "Outage resolved" in after.text
    assert 'data-status="healthy">resolved</span>' in after.text


async def test_a_backfill_dry_run_shows_the_estimate(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await sign_in(ui, jwt_for(settings, Role.OPERATOR))).status_code == 303
    form = await ui.get("/ui/backfill")
    assert 'id="backfill-form"' in form.text
    answer = await ui.post(
        "/ui/backfill/estimate",
        data={"csrf_token": form_token(form.text), "provider": "fred", "datasets": "",
              "start": "2024-01-01", "end": "2024-01-31"},
    )  # fmt: skip
    assert answer.status_code == 200
    assert 'id="estimate"' in answer.text and "Requests needed" in answer.text
    assert 'id="queue-form"' in answer.text


async def test_the_provider_page_shows_its_datasets(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await sign_in(ui, jwt_for(settings, Role.VIEWER))).status_code == 303
    answer = await ui.get("/ui/providers/fred")
    assert answer.status_code == 200
    assert 'id="freshness-table"' in answer.text and 'id="breaker-table"' in answer.text
    assert 'id="quota-chart"' in answer.text and "against a daily limit of 50000" in answer.text
    assert (await ui.get("/ui/providers/nope")).status_code == 404


async def test_flags_list_with_their_replicas(ui: httpx.AsyncClient, settings: Settings) -> None:
    assert (await sign_in(ui, jwt_for(settings, Role.VIEWER))).status_code == 303
    answer = await ui.get("/ui/flags")
    assert answer.status_code == 200
    assert 'data-flag="external_read_cache"' in answer.text and 'id="replicas-table"' in answer.text
    assert 'action="/ui/flags/' not in answer.text


async def test_every_dashboard_route_needs_a_session(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    """The dashboard has no access policy in app.main: each route checks the session itself,
    and this walk keeps a new one from forgetting."""
    app = create_app(settings)
    open_paths = {"/ui/login", "/ui/static/{name:path}"}
    routes = [
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/ui")
        for method in route.methods
        if route.path not in open_paths and method != "HEAD"
    ]
    assert len(routes) > 15
    for method, path in routes:
        answer = await ui.request(method, concrete(path))
        assert answer.status_code == 303, f"{method} {path} answered {answer.status_code}"
        assert answer.headers["location"] == "/ui/login"


def test_dashboard_polling_has_a_limit_that_fits_a_shift() -> None:
    rules = RuleSet.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    rule = rules.match("/ui/partials/cards")
    assert rule is not None and rule.prefix == "/ui/partials/"
    per_hour = 3600 // 5
    for item in rule.limits:
        window = item.get_expiry()
        # Two pages open per person, each polling every 5 s, stay under every window.
        assert 2 * per_hour * window / 3600 <= item.amount or window < 5


async def test_an_admin_creates_and_revokes_a_key_and_an_operator_cannot(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await sign_in(ui, jwt_for(settings, Role.OPERATOR))).status_code == 303
    assert 'href="/ui/keys"' not in (await ui.get("/ui/")).text
    assert (await ui.get("/ui/keys")).status_code == 403
    assert (await sign_in(ui, jwt_for(settings, Role.ADMIN))).status_code == 303
    listing = await ui.get("/ui/keys")
    assert listing.status_code == 200
    token = form_token(listing.text)
    created = await ui.post(
        "/ui/keys",
        data={"csrf_token": token, "name": "ui-made", "role": "viewer", "reason": "test"},
    )
    assert created.status_code == 200 and 'id="new-key"' in created.text
    key = re.search(r'id="new-key" readonly value="([^"]+)"', created.text)
    assert key and key.group(1).startswith("aur_")
    prefix = key.group(1).split("_")[1]
    row = created.text.split(f'<tr data-key="{prefix}">')[1].split("</tr>")[0]
    key_id = re.search(r'action="/ui/keys/([0-9a-f-]+)/revoke"', row)
    assert key_id
    revoked = await ui.post(
        f"/ui/keys/{key_id.group(1)}/revoke", data={"csrf_token": token, "reason": "done"}
    )
    assert revoked.status_code == 303
    after = (await ui.get("/ui/keys")).text
    assert f"Key ui-made ({prefix}) revoked." in after
    assert f'data-key="{prefix}"' not in after


async def test_the_series_catalog_and_an_unknown_series(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await sign_in(ui, jwt_for(settings, Role.VIEWER))).status_code == 303
    catalog = await ui.get("/ui/series", params={"provider": "fred"})
    assert catalog.status_code == 200 and 'id="series-table"' in catalog.text
    missing = await ui.get("/ui/series/fred/NOPE")
    assert missing.status_code == 404 and 'role="alert"' in missing.text


async def test_the_session_cookie_is_secure_over_https(settings: Settings) -> None:
    async with client_for(settings) as client:
        client.base_url = httpx.URL("https://aurum.test")
        answer = await sign_in(client, jwt_for(settings, Role.VIEWER))
        assert answer.status_code == 303
        cookie = next(
            v for v in answer.headers.get_list("set-cookie") if v.startswith("aurum_session=")
        )
        assert "secure" in cookie.lower()


async def test_the_api_gives_a_providers_requests_per_hour(
    ui: httpx.AsyncClient, settings: Settings
) -> None:
    answer = await ui.get("/v1/admin/external/health/noaa", headers=bearer(settings, Role.VIEWER))
    hourly = answer.json()["hourly_calls"]
    assert len(hourly) == 24 and hourly[0]["hour"] < hourly[-1]["hour"]
    assert set(hourly[-1]) == {"hour", "success", "failure"}
