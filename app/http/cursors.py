"""Opaque pagination cursors, one format for every paginated endpoint: URL-safe base64 of
`{"after": <position>}`, where the position is whatever the endpoint orders by."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.errors import InvalidInput


def encode_cursor(position: Any) -> str:
    raw = json.dumps({"after": position}, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor() -> InvalidInput:
    return InvalidInput(
        "cursor is not one this API issued; use the next_cursor of the previous page, "
        "or leave it out to start from the first page",
        details=[{"field": "cursor", "message": "unrecognised cursor"}],
    )


def decode_cursor(cursor: str | None) -> Any:
    """The position, None without a cursor; a 422 for anything this API did not issue."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw)["after"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid_cursor() from None
