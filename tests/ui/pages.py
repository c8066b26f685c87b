"""What the browser tests do on the dashboard's pages, named after the contract's ids and
labels: sign in, read a CSRF token, wait for a card's status."""

from __future__ import annotations

import re
import time
from typing import Any

STATUS_WORDS = ("healthy", "degraded", "down", "unknown")
CSRF_REFUSED = "CSRF token missing or invalid"


def sign_in(page: Any, url: str, key: str) -> None:
    """Paste `key` into the login form and land on the overview."""
    page.goto(f"{url}/ui/login")
    page.get_by_label("API key or token").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/ui/?$"))


def csrf_token(page: Any) -> str:
    """The CSRF token of the page's first form (every POST form carries one)."""
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token, "no csrf_token hidden input on " + page.url
    return str(token)


def card(page: Any, provider: str) -> Any:
    return page.locator(f"article.card[data-provider={provider}]")


def card_status(page: Any, provider: str) -> tuple[str | None, str]:
    """(data-status, the status word shown) of a provider's card."""
    status = card(page, provider).locator(".status").first
    return status.get_attribute("data-status"), status.inner_text().strip().lower()


def wait_for_status(page: Any, provider: str, wanted: str, *, timeout: float) -> None:
    """Wait, without reloading, until the card's status (attribute and word) is `wanted`."""
    deadline = time.monotonic() + timeout
    seen: tuple[str | None, str] = (None, "")
    while time.monotonic() < deadline:
        seen = card_status(page, provider)
        if seen[0] == wanted and wanted in seen[1]:
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"{provider}'s card stayed {seen} for {timeout}s, never {wanted}")
