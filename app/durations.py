"""Operator-friendly durations: `90d`, `12h`, `30m`, `45s`, `2w`."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """Raise ValueError with the accepted forms when `text` is not one of them."""
    match = _DURATION.match(text.lower())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration; use a positive number and s, m, h, d or w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
