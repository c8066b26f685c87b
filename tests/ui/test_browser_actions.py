"""An operator acts from the browser: pauses a job through the reason dialog (keyboard only)
and the audit shows the reason; a backfill's dry run shows its estimate before queuing."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.ui.conftest import Dashboard
from tests.ui.pages import sign_in

JOBS = "/v1/admin/external/jobs"


def _audited_pause(dashboard: Dashboard, reason: str) -> dict[str, Any] | None:
    params = {"action": "job.pause", "target": "job:ingest.fred"}
    items = dashboard.api("GET", "/v1/admin/audit", params=params).json()["items"]
    return next((e for e in items if e["reason"] == reason), None)


def test_an_operator_pauses_a_job_through_the_reason_dialog_and_the_audit_shows_why(
    page: Any, dashboard: Dashboard, shot: Callable[[Any, str], Path]
) -> None:
    reason = f"provider maintenance window {time.monotonic_ns()}"
    sign_in(page, dashboard.url, dashboard.operator_key)
    page.goto(f"{dashboard.url}/ui/jobs")
    row = page.locator('tr[data-job="ingest.fred"]')
    try:
        # Keyboard only: focus the row's Pause button, Enter opens the dialog.
        row.get_by_role("button", name="Pause").focus()
        page.keyboard.press("Enter")
        dialog = page.locator("#reason-dialog")
        dialog.wait_for(state="visible")
        assert dialog.get_by_label("Reason").count() == 1
        page.locator("#reason").focus()
        page.keyboard.type(reason)
        shot(page, "jobs-reason-dialog")
        dialog.get_by_role("button", name="Confirm").focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert re.search(r"/ui/jobs", page.url), page.url

        deadline = time.monotonic() + 10
        entry = _audited_pause(dashboard, reason)
        while entry is None and time.monotonic() < deadline:
            time.sleep(0.2)
            entry = _audited_pause(dashboard, reason)
        assert entry is not None, "the pause and its reason are not in GET /v1/admin/audit"
        assert entry["principal"].startswith("key:") and entry["role"] == "operator", entry
        assert "paused" in page.locator('tr[data-job="ingest.fred"]').inner_text().lower()
        shot(page, "jobs-paused")
    finally:
        dashboard.api("POST", f"{JOBS}/ingest.fred/resume", json={"reason": "test cleanup"})


def _choose_dataset(page: Any, series_id: str) -> None:
    """The datasets field may be a select, checkboxes or a text input: pick one dataset."""
    field = page.locator("[name=datasets]")
    if field.count() == 0:
        return
    first = field.first
    tag = first.evaluate("e => e.tagName.toLowerCase()")
    kind = (first.get_attribute("type") or "").lower()
    if tag == "select":
        first.select_option(series_id)
    elif kind == "checkbox":
        page.locator(f'[name=datasets][value="{series_id}"]').check()
    else:
        first.fill(series_id)


def test_a_backfill_dry_run_shows_the_estimate_before_anything_is_queued(
    page: Any, dashboard: Dashboard, shot: Callable[[Any, str], Path]
) -> None:
    before = dashboard.api("GET", "/v1/admin/audit", params={"action": "job.backfill"}).json()
    sign_in(page, dashboard.url, dashboard.operator_key)
    page.goto(f"{dashboard.url}/ui/backfill")
    end = datetime.now(UTC).date() - timedelta(days=1)
    page.locator("select[name=provider]").select_option("fred")
    _choose_dataset(page, "DGS10")
    page.locator("[name=start]").fill((end - timedelta(days=30)).isoformat())
    page.locator("[name=end]").fill(end.isoformat())
    page.get_by_role("button", name=re.compile(r"dry run|estimate", re.I)).click()

    # The contract: the request estimate against the remaining quota and budget, in #estimate.
    estimate = page.locator("#estimate")
    estimate.wait_for(state="visible")
    text = estimate.inner_text().lower()
    assert re.search(r"\d", text) and "request" in text, text
    assert "quota" in text and "budget" in text, text
    shot(page, "backfill-estimate")
    after = dashboard.api("GET", "/v1/admin/audit", params={"action": "job.backfill"}).json()
    assert after["items"] == before["items"], "a dry run queued a backfill"
