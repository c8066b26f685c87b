"""The post-incident report: every section from the outage's view, and table cells that stay
one cell whatever the text holds."""

from __future__ import annotations

from typing import Any

from app.outages.report import cell, duration, render_report


def _view(**changes: Any) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": "5b7e0f7e-8d3c-4a55-9a0e-1f1c2b3d4e5f",
        "provider": "eia",
        "status": "resolved",
        "reason": "EIA 5xx | gateway\nerrors",
        "declared_by": "jwt:oncall",
        "declared_at": "2026-12-07T10:00:00Z",
        "expires_at": "2026-12-07T14:00:00Z",
        "actions": [
            {
                "action": "pause_job",
                "target": "ingest.eia",
                "before": {"paused": False},
                "after": {"paused": True, "by": "jwt:oncall", "reason": "EIA 5xx"},
                "changed": True,
            },
            {
                "action": "force_open_breaker",
                "target": "eia",
                "before": {"state": "closed", "forced_until": None},
                "after": {"state": "forced_open", "forced_until": "2026-12-07T14:00:00Z"},
                "changed": True,
            },
            {
                "action": "flag",
                "target": "external_read_cache",
                "before": {"enabled": True, "configuration": {"ttl_seconds": 900}},
                "after": {"enabled": True, "configuration": {"ttl_seconds": 900}},
                "changed": False,
            },
            {
                "action": "fallback",
                "target": "provider_fallback",
                "before": {"enabled": False, "value": None},
                "after": {"enabled": True, "value": True},
                "changed": True,
            },
        ],
        "resolved_at": "2026-12-07T12:05:30Z",
        "resolved_by": "jwt:oncall",
        "resolve_reason": "EIA answers again",
        "resolution": {
            "probe": {"ok": True, "error": None, "forced": False},
            "undone": [
                {"action": "pause_job", "target": "ingest.eia"},
                {"action": "force_open_breaker", "target": "eia"},
            ],
            "left_alone": [
                {
                    "action": "fallback",
                    "target": "provider_fallback",
                    "expected": {"enabled": True, "value": True},
                    "found": {"enabled": False, "value": True},
                },
            ],
            "backfill_refused": None,
        },
        "backfill": {
            "run_id": "0e0b8a4c-1111-4222-8333-944455556666",
            "status": "succeeded",
            "window_start": "2026-09-01T00:00:00Z",
            "window_end": "2026-12-07T12:05:30Z",
            "rows_new": 3,
            "rows_changed": 7,
        },
        "completeness": None,
    }
    view.update(changes)
    return view


TIMELINE = [
    {"at": "2026-12-07T10:00:00Z", "kind": "declared", "actor": "jwt:oncall",
     "summary": "jwt:oncall declared an outage of eia: EIA 5xx", "detail": {}},
    {"at": "2026-12-07T10:03:00Z", "kind": "run", "actor": "replica-a",
     "summary": "scheduled run of ingest.eia refused: CircuitOpen: eia | open\nsecond line",
     "detail": {}},
    {"at": "2026-12-07T12:05:30Z", "kind": "resolved", "actor": "jwt:oncall",
     "summary": "jwt:oncall resolved the outage", "detail": {}},
]  # fmt: skip


def test_cells_escape_pipes_and_newlines() -> None:
    assert cell("a | b\nc\r\nd") == "a \\| b c d"
    assert cell(None) == ""
    assert cell({"eia": True}) == '{"eia": true}'
    assert cell(False) == "false"


def test_duration() -> None:
    assert duration("2026-12-07T10:00:00Z", "2026-12-07T12:05:30Z") == "2 h 05 min"
    assert duration("2026-12-07T10:00:00Z", "2026-12-07T10:03:12Z") == "3 min 12 s"
    assert duration("2026-12-07T10:00:00Z", None) == ""


def test_a_resolved_outage_with_its_backfill_and_an_incomplete_check() -> None:
    completeness = {
        "checked_at": "2026-12-07T12:09:00Z", "complete": False, "series_checked": 2,
        "missing": 1, "different": 2,
        "details": [
            {"series": "electricity/retail-sales:monthly:CO/RES:price", "missing": 1,
             "different": 2},
            {"series": "petroleum/pri/spt:weekly:RBRTE:value", "missing": 0, "different": 0},
        ],
    }  # fmt: skip
    report = render_report(_view(completeness=completeness), TIMELINE)

    assert report.startswith("# Outage of eia: EIA 5xx \\| gateway errors\n")
    for heading in ("Summary", "Mitigation applied and undone", "Left alone", "Backfill",
                    "Completeness", "Timeline"):  # fmt: skip
        assert f"\n## {heading}\n" in report
    assert "| Duration | 2 h 05 min |" in report
    assert "| Declared by | jwt:oncall |" in report
    assert "| Resolved at (UTC) | 2026-12-07 12:05:30 |" in report
    assert "| Probe at resolve | ok |" in report
    assert "| pause_job | ingest.eia | running -> paused | undone |" in report
    assert (
        "| force_open_breaker | eia | closed -> forced_open until 2026-12-07T14:00:00Z | undone |"
        in report
    )
    assert (
        "| flag | external_read_cache | already on (ttl_seconds=900) | already so: not undone |"
        in report
    )
    assert "| fallback | provider_fallback | provider -> mirror | left alone |" in report
    left = "| fallback | provider_fallback | mirror | provider |"
    assert left in report
    assert "| Rows new | 3 |" in report and "| Rows changed | 7 |" in report
    assert "| Status | succeeded |" in report
    assert "Incomplete (checked 2026-12-07T12:09:00Z, 2 series): 1 observations missing" in report
    assert "| electricity/retail-sales:monthly:CO/RES:price | 1 | 2 |" in report
    assert "RBRTE" not in report  # a series that matched is not listed
    assert (
        "| 2026-12-07 10:03:00 | run | replica-a | scheduled run of ingest.eia refused: "
        "CircuitOpen: eia \\| open second line |"
    ) in report
    # Every table row has as many cells as its header.
    for block in report.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            widths = {line.replace("\\|", "").count("|") for line in rows}
            assert len(widths) == 1, block


def test_complete_and_not_checked_yet() -> None:
    complete = {"checked_at": "2026-12-07T12:09:00Z", "complete": True, "series_checked": 4,
                "missing": 0, "different": 0, "details": []}  # fmt: skip
    assert "Complete: stored data matches what the provider serves" in render_report(
        _view(completeness=complete), TIMELINE
    )
    assert "Not checked yet." in render_report(_view(), TIMELINE)


def test_an_open_outage_and_a_refused_backfill() -> None:
    report = render_report(
        _view(status="open", resolved_at=None, resolved_by=None, resolution=None, backfill=None),
        TIMELINE[:2],
    )
    assert "| Duration | open (" in report or "| Duration | open |" in report
    assert "| pause_job | ingest.eia | running -> paused | in effect |" in report
    assert "Not resolved yet." in report

    refused = _view(
        backfill=None,
        resolution={"probe": {"ok": False, "error": "503", "forced": True}, "undone": [],
                    "left_alone": [],
                    "backfill_refused": {"reason": "needs 900 requests; 12 are left today",
                                         "requests": 900}},
    )  # fmt: skip
    report = render_report(refused, [])
    assert "Refused: needs 900 requests; 12 are left today" in report
    assert "| Probe at resolve | failed: 503 (forced) |" in report
    assert "Nothing recorded." in report
