"""Time-window query parameters (`since`, `until`) shared by the list endpoints."""

from __future__ import annotations

from datetime import datetime

from app.errors import InvalidInput


def check_window(since: datetime | None, until: datetime | None) -> None:
    """422 naming `since` when the window is empty or reversed."""
    if since and until and since >= until:
        raise InvalidInput(
            "'since' must be before 'until'",
            details=[{"field": "since", "message": "must be before until"}],
        )
