"""Every view renders and is photographed for a reviewer (1280 px, and the overview at a
phone's 375 px); the overview's first paint and its weight with its assets are measured."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.ui.conftest import Dashboard
from tests.ui.pages import sign_in

VIEWS = {
    "overview": "/ui/",
    "provider": "/ui/providers/fred",
    "jobs": "/ui/jobs",
    "backfill": "/ui/backfill",
    "outages": "/ui/outages",
    "flags": "/ui/flags",
    "audit": "/ui/audit",
}
WEIGHT_BYTES = 300 * 1024
PAINT = """() => {
  const paint = performance.getEntriesByType('paint');
  const first = paint.find(e => e.name === 'first-paint')
    || paint.find(e => e.name === 'first-contentful-paint');
  return first ? first.startTime : null;
}"""


def test_a_screenshot_of_each_view_at_1280_px(
    page: Any, dashboard: Dashboard, shot: Callable[[Any, str], Path]
) -> None:
    sign_in(page, dashboard.url, dashboard.operator_key)
    for name, path in VIEWS.items():
        reply = page.goto(dashboard.url + path)
        assert reply.status == 200, (path, reply.status)
        page.wait_for_load_state("load")
        assert page.locator("nav").count() == 1, path
        shot(page, f"{name}-1280")


def test_the_overview_is_readable_at_a_phones_width(
    browser: Any, dashboard: Dashboard, shot: Callable[[Any, str], Path]
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    try:
        page = context.new_page()
        sign_in(page, dashboard.url, dashboard.operator_key)
        page.locator("article.card").first.wait_for()
        shot(page, "overview-375")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375 + 1, f"the overview scrolls sideways at 375 px ({width} px wide)"
    finally:
        context.close()


def test_the_overview_paints_and_weighs_under_300_kb(
    page: Any, browser: Any, dashboard: Dashboard
) -> None:
    sign_in(page, dashboard.url, dashboard.operator_key)
    # A cold cache with the signed-in session: what a fresh tab on the overview costs.
    cold = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        cold.add_cookies(page.context.cookies())
        fresh = cold.new_page()
        responses: list[Any] = []
        fresh.on("response", lambda response: responses.append(response))
        reply = fresh.goto(f"{dashboard.url}/ui/", wait_until="load")
        assert reply.status == 200 and fresh.url.endswith("/ui/"), fresh.url
        fresh.locator("article.card").first.wait_for()
        first_paint = fresh.evaluate(PAINT)
        sizes = {r.url: len(r.body()) for r in responses if r.status == 200}
    finally:
        cold.close()
    weight = sum(sizes.values())
    print(f"\noverview first paint: {first_paint} ms (cold cache)")
    print(f"overview page + assets: {weight / 1024:.1f} KB in {len(sizes)} responses")
    for url, size in sorted(sizes.items(), key=lambda item: -item[1]):
        print(f"  {size / 1024:7.1f} KB  {url.removeprefix(dashboard.url)}")
    assert first_paint is not None, "the browser reported no paint"
    # Printed, not asserted: a timing on a shared 2-core CI machine is noise (it failed at
    # 1 s while pip installed beside it); the weight below is deterministic.
    assert weight < WEIGHT_BYTES, f"the overview weighs {weight / 1024:.1f} KB"
