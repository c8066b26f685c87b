"""Signing in and out, roles, CSRF and the Content-Security-Policy, in a real browser."""

from __future__ import annotations

import re
from typing import Any

from tests.ui.conftest import PROVIDERS, Dashboard
from tests.ui.pages import CSRF_REFUSED, STATUS_WORDS, card_status, csrf_token, sign_in

PAUSE_FRED = "/ui/jobs/ingest.fred/pause"


def test_an_operator_signs_in_with_a_key_and_sees_four_providers(
    page: Any, dashboard: Dashboard
) -> None:
    sign_in(page, dashboard.url, dashboard.operator_key)
    cards = page.locator("article.card[data-provider]")
    cards.first.wait_for()
    assert sorted(cards.evaluate_all("els => els.map(e => e.dataset.provider)")) == sorted(
        PROVIDERS
    )
    for provider in PROVIDERS:
        attribute, word = card_status(page, provider)
        # Colour is never the only signal: the status is also a word.
        assert attribute in STATUS_WORDS and attribute in word, (provider, attribute, word)
    nav = page.locator("nav")
    assert "operator" in nav.inner_text().lower()
    for link in ("Overview", "Jobs", "Backfill", "Outages", "Flags", "Audit"):
        assert nav.get_by_role("link", name=link).count() == 1, link


def test_a_wrong_key_is_not_accepted(page: Any, dashboard: Dashboard) -> None:
    page.goto(f"{dashboard.url}/ui/login")
    page.get_by_label("API key or token").fill("not-a-key")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    assert "That key or token was not accepted." in page.get_by_role("alert").inner_text()
    assert not [c for c in page.context.cookies() if c["name"] == "aurum_session"]


def test_the_session_cookie_is_http_only_and_same_site_strict(
    page: Any, dashboard: Dashboard
) -> None:
    sign_in(page, dashboard.url, dashboard.viewer_key)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "aurum_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    assert cookie["expires"] > 0, "the session cookie must expire"


def test_a_viewer_sees_no_controls_and_a_forged_post_is_refused(
    page: Any, dashboard: Dashboard
) -> None:
    sign_in(page, dashboard.url, dashboard.viewer_key)
    page.goto(f"{dashboard.url}/ui/jobs")
    row = page.locator('tr[data-job="ingest.fred"]')
    row.wait_for()
    for action in ("Pause", "Resume", "Trigger"):
        assert page.get_by_role("button", name=action).count() == 0, action
    assert page.locator("#reason-dialog").count() == 0

    reason = "forged by a viewer"
    forged = page.request.post(
        dashboard.url + PAUSE_FRED,
        form={"csrf_token": csrf_token(page), "reason": reason},
        max_redirects=0,
    )
    assert forged.status == 403, forged.text()
    audit = dashboard.api("GET", "/v1/admin/audit", params={"action": "job.pause"}).json()
    assert not [e for e in audit["items"] if e["reason"] == reason]


def test_a_post_without_a_csrf_token_is_refused(page: Any, dashboard: Dashboard) -> None:
    sign_in(page, dashboard.url, dashboard.operator_key)
    page.goto(f"{dashboard.url}/ui/jobs")
    for form in ({"reason": "no token"}, {"reason": "wrong token", "csrf_token": "x" * 40}):
        refused = page.request.post(dashboard.url + PAUSE_FRED, form=form, max_redirects=0)
        assert refused.status == 403, (form, refused.status)
        assert CSRF_REFUSED in refused.text()
    audit = dashboard.api("GET", "/v1/admin/audit", params={"action": "job.pause"}).json()
    assert not [e for e in audit["items"] if e["reason"] in {"no token", "wrong token"}]


def test_logout_returns_to_the_login_page_and_ends_the_session(
    page: Any, dashboard: Dashboard
) -> None:
    sign_in(page, dashboard.url, dashboard.operator_key)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/ui/login$"))
    assert not [c for c in page.context.cookies() if c["name"] == "aurum_session"]
    page.goto(f"{dashboard.url}/ui/")
    assert re.search(r"/ui/login$", page.url), page.url
    assert page.get_by_label("API key or token").count() == 1


def test_the_csp_forbids_inline_code_and_no_page_violates_it(
    page: Any, dashboard: Dashboard
) -> None:
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda e: violations.append(f"page error: {e}"))
    login = page.goto(f"{dashboard.url}/ui/login")
    csp = login.headers.get("content-security-policy", "")
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'"):
        assert directive in csp, (directive, csp)
    sign_in(page, dashboard.url, dashboard.operator_key)
    for path in ("/ui/", "/ui/providers/fred", "/ui/jobs", "/ui/backfill", "/ui/outages"):
        reply = page.goto(dashboard.url + path)
        header = reply.headers.get("content-security-policy", "")
        assert "script-src 'self'" in header and "unsafe-inline" not in header, (path, header)
        page.wait_for_load_state("load")
    page.goto(f"{dashboard.url}/ui/")
    page.wait_for_timeout(6_000)  # one htmx refresh of the cards
    assert violations == []
