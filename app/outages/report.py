"""Placeholder: the post-incident report as markdown (the full report replaces this)."""

from __future__ import annotations

from typing import Any


def render_report(view: dict[str, Any], timeline: list[dict[str, Any]]) -> str:
    lines = [
        f"# Outage of {view['provider']}: {view['reason']}",
        "",
        f"- Declared by {view['declared_by']} at {view['declared_at']}",
        f"- Status: {view['status']}",
        "",
        "## Timeline",
        "",
    ]
    lines += [f"- {e['at']} {e['kind']} ({e['actor'] or '-'}): {e['summary']}" for e in timeline]
    return "\n".join(lines) + "\n"
