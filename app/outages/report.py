"""The post-incident report of an outage, in Markdown: what happened, what was done and
undone, what the backfill brought, whether stored data now matches the provider, and the
timeline. Built only from the outage's view and timeline, so it says what the API says."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from app.outages.wording import change_text, state_text

DETAILS_SHOWN = 50


def cell(value: Any) -> str:
    """A table cell: text on one line, `|` escaped, empty for None."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, sort_keys=True, default=str)
    text = value.replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()


def table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def moment(value: Any) -> str:
    """`2026-12-07 17:02:20`: a time to the second, for people (the JSON keeps the rest)."""
    parsed = _parse(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed is not None else cell(value)


def duration(start: Any, end: Any) -> str:
    """`2 h 05 min`, `3 min 12 s`; empty when either end is unknown."""
    first, last = _parse(start), _parse(end)
    if first is None or last is None:
        return ""
    seconds = max(0, int((last - first).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def render_report(view: dict[str, Any], timeline: list[dict[str, Any]]) -> str:
    """The report as Markdown text (one trailing newline)."""
    provider = view.get("provider", "")
    lines = [f"# Outage of {provider}: {cell(view.get('reason'))}", ""]
    lines += _summary(view)
    lines += _mitigation(view)
    lines += _left_alone(view)
    lines += _backfill(view)
    lines += _completeness(view)
    lines += ["## Timeline", ""]
    if timeline:
        rows = [
            [moment(e.get("at")), e.get("kind"), e.get("actor"), e.get("summary")] for e in timeline
        ]
        lines += table(["Time (UTC)", "Kind", "Actor", "What happened"], rows)
    else:
        lines.append("Nothing recorded.")
    return "\n".join(lines) + "\n"


def _summary(view: dict[str, Any]) -> list[str]:
    end = view.get("resolved_at")
    lasted = duration(view.get("declared_at"), end)
    rows: list[list[Any]] = [
        ["Provider", view.get("provider")],
        ["Status", view.get("status")],
        ["Outage id", view.get("id")],
        ["Declared by", view.get("declared_by")],
        ["Declared at (UTC)", moment(view.get("declared_at"))],
        ["Expires at (UTC)", None if end else moment(view.get("expires_at"))],
        ["Resolved by", view.get("resolved_by")],
        ["Resolved at (UTC)", moment(end) if end else None],
        ["Duration", lasted if end else (f"open ({lasted} so far)" if lasted else "open")],
        ["Reason", view.get("reason")],
        ["Resolve reason", view.get("resolve_reason")],
    ]
    probe = (view.get("resolution") or {}).get("probe")
    if probe:
        verdict = "ok" if probe.get("ok") else f"failed: {probe.get('error')}"
        rows.append(["Probe at resolve", verdict + (" (forced)" if probe.get("forced") else "")])
    return ["## Summary", "", *table(["", ""], rows), ""]


def _mitigation(view: dict[str, Any]) -> list[str]:
    actions = view.get("actions") or []
    resolution = view.get("resolution") or {}
    undone = {(u.get("action"), u.get("target")) for u in resolution.get("undone") or []}
    left = {(u.get("action"), u.get("target")) for u in resolution.get("left_alone") or []}
    lines = ["## Mitigation applied and undone", ""]
    if not actions:
        return [*lines, "No action was applied.", ""]
    rows = []
    for action in actions:
        key = (action.get("action"), action.get("target"))
        if not action.get("changed", True):
            fate = "already so: not undone"
        elif key in undone:
            fate = "undone"
        elif key in left:
            fate = "left alone"
        elif view.get("status") == "open":
            fate = "in effect"
        else:
            fate = "not undone"
        change = action.get("change") or change_text(action)
        rows.append([action.get("action"), action.get("target"), change, fate])
    return [*lines, *table(["Action", "Target", "Change", "At resolve"], rows), ""]


def _left_alone(view: dict[str, Any]) -> list[str]:
    items = (view.get("resolution") or {}).get("left_alone") or []
    lines = ["## Left alone", ""]
    if not items:
        none = "Nothing." if view.get("status") == "resolved" else "Not resolved yet."
        return [*lines, none, ""]
    rows = [
        [
            i.get("action"), i.get("target"), state_text(str(i.get("action")), i.get("expected")),
            state_text(str(i.get("action")), i.get("found")), i.get("reason"),
        ]
        for i in items
    ]  # fmt: skip
    return [*lines, *table(["Action", "Target", "Expected", "Found", "Why"], rows), ""]


def _backfill(view: dict[str, Any]) -> list[str]:
    lines = ["## Backfill", ""]
    refused = (view.get("resolution") or {}).get("backfill_refused")
    backfill = view.get("backfill")
    if refused:
        lines += [f"Refused: {cell(refused.get('reason', refused))}", ""]
        details = {k: v for k, v in refused.items() if k != "reason"}
        if details:
            lines += [f"Details: {cell(details)}", ""]
    if not backfill:
        if not refused:
            lines += ["None queued." if view.get("status") == "resolved" else "Not yet.", ""]
        return lines
    window = f"{backfill.get('window_start')} .. {backfill.get('window_end')}"
    rows = [
        ["Run", backfill.get("run_id")],
        ["Window", window],
        ["Status", backfill.get("status")],
        ["Rows new", backfill.get("rows_new")],
        ["Rows changed", backfill.get("rows_changed")],
    ]
    return [*lines, *table(["", ""], rows), ""]


def _completeness(view: dict[str, Any]) -> list[str]:
    lines = ["## Completeness", ""]
    result = view.get("completeness")
    if not result:
        return [*lines, "Not checked yet.", ""]
    if result.get("error"):
        return [*lines, f"Not established: {cell(result['error'])}", ""]
    checked = f"(checked {result.get('checked_at')}, {result.get('series_checked')} series)"
    if result.get("complete"):
        return [*lines, f"Complete: stored data matches what the provider serves {checked}.", ""]
    lines.append(
        f"Incomplete {checked}: {result.get('missing', 0)} observations missing, "
        f"{result.get('different', 0)} different."
    )
    details = [d for d in result.get("details") or [] if d.get("missing") or d.get("different")]
    if details:
        rows = [[d.get("series"), d.get("missing"), d.get("different")] for d in details]
        lines += ["", *table(["Series", "Missing", "Different"], rows[:DETAILS_SHOWN])]
        if len(rows) > DETAILS_SHOWN:
            lines += ["", f"... and {len(rows) - DETAILS_SHOWN} more series."]
    return [*lines, ""]
