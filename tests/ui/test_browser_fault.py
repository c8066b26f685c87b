"""A fault in the provider sandbox reaches the overview: the card turns degraded, then down,
while the page stays open (htmx refreshes the cards; nothing reloads)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.ui.conftest import FAULTY, Dashboard
from tests.ui.pages import sign_in, wait_for_status

# The health view may be cached and the cards refresh every 5 s: allow a generous minute.
WAIT = 60


def test_a_provider_fault_turns_its_card_degraded_then_down_without_a_reload(
    page: Any, dashboard: Dashboard, shot: Callable[[Any, str], Path]
) -> None:
    sign_in(page, dashboard.url, dashboard.operator_key)
    try:
        assert dashboard.run_ingest(FAULTY)["status"] == "succeeded"
        page.reload()
        # A reload would lose this mark: it proves the cards changed in place.
        page.evaluate("() => { window.__aurumNoReload = true; }")

        dashboard.fault(FAULTY)
        # One failed call: the breaker (threshold 2) stays closed, the provider is degraded.
        assert dashboard.run_ingest(FAULTY)["status"] == "failed"
        wait_for_status(page, FAULTY, "degraded", timeout=WAIT)
        shot(page, "overview-provider-degraded")
        # The second failed call opens the breaker: down.
        assert dashboard.run_ingest(FAULTY)["status"] == "failed"
        wait_for_status(page, FAULTY, "down", timeout=WAIT)
        shot(page, "overview-provider-down")
        assert page.evaluate("() => window.__aurumNoReload === true"), "the page was reloaded"
    finally:
        dashboard.lift()
        dashboard.api("POST", f"/v1/admin/external/circuit-breakers/{FAULTY}/reset")
