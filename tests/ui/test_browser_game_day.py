"""The game day from the browser: a provider goes down on the overview, the operator declares
the outage on the outages page, the fault is lifted, the operator resolves it there, the
backfill it queued runs, and the outage's page shows the timeline and the report."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.ui.conftest import FAULTY, Dashboard
from tests.ui.pages import card, sign_in, wait_for_status

OUTAGES = "/v1/admin/external/outages"


def _open_outage(dashboard: Dashboard) -> dict[str, Any] | None:
    found = dashboard.api("GET", OUTAGES, params={"provider": FAULTY, "status": "open"})
    outages: list[dict[str, Any]] = found.json()["outages"]
    return outages[0] if outages else None


def _settle(dashboard: Dashboard) -> None:
    """Leave the provider as the other tests expect it: no fault, no outage, breaker closed."""
    dashboard.lift()
    outage = _open_outage(dashboard)
    if outage is not None:
        body = {"force": True, "backfill": False, "reason": "test cleanup"}
        dashboard.api("POST", f"{OUTAGES}/{outage['id']}/resolve", json=body)
    dashboard.api("POST", f"/v1/admin/external/circuit-breakers/{FAULTY}/reset")


def test_the_game_day_from_the_browser(
    page: Any, dashboard: Dashboard, shot: Callable[[Any, str], Path]
) -> None:
    sign_in(page, dashboard.url, dashboard.operator_key)
    try:
        # See it go down.
        dashboard.fault(FAULTY)
        for _ in range(2):  # the breaker opens at the second failed call
            assert dashboard.run_ingest(FAULTY)["status"] == "failed"
        wait_for_status(page, FAULTY, "down", timeout=60)

        # Mitigate: declare on the outages page.
        page.get_by_role("link", name="Outages").click()
        page.get_by_label("Provider").select_option(FAULTY)
        page.get_by_label("Reason").first.fill("EIA 5xx (game day)")
        page.get_by_role("button", name="Declare").click()
        page.wait_for_url(re.compile(r".*/ui/outages.*"))
        outage = _open_outage(dashboard)
        assert outage is not None and outage["reason"] == "EIA 5xx (game day)"
        paused = {a["target"] for a in outage["actions"] if a["action"] == "pause_job"}
        assert f"ingest.{FAULTY}" in paused
        shot(page, "outages-declared")
        page.get_by_role("link", name="Overview").click()
        card(page, FAULTY).get_by_text("EIA 5xx (game day)").wait_for(timeout=15_000)

        # Recover: lift the fault, resolve on the outages page.
        dashboard.lift()
        page.get_by_role("link", name="Outages").click()
        row = page.locator(f"tr[data-outage='{outage['id']}']")
        row.get_by_label("Reason").fill("EIA answers again")
        row.get_by_role("button", name="Resolve").click()
        page.wait_for_url(re.compile(r".*/ui/outages.*"))
        resolved = dashboard.api("GET", f"{OUTAGES}/{outage['id']}").json()
        assert resolved["status"] == "resolved", resolved
        assert resolved["resolution"]["probe"]["ok"] is True

        # Backfill: the resolve queued it; wait for it to finish.
        run_id = resolved["backfill"]["run_id"]
        assert dashboard.wait_run(run_id, timeout=90)["status"] == "succeeded"

        # Report: the outage's page shows the timeline and the report.
        deadline = time.monotonic() + 30
        while True:
            page.goto(f"{dashboard.url}/ui/outages/{outage['id']}")
            text = page.locator("main").inner_text()
            if "succeeded" in text or time.monotonic() > deadline:
                break
            time.sleep(1)
        for step in ("declared", "resolved", "backfill", "EIA answers again"):
            assert step in text, f"{step!r} not on the outage's page"
        assert "Outage of eia" in text
        shot(page, "outage-report")
    finally:
        _settle(dashboard)
