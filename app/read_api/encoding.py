"""The observations page's JSON, written row by row.

The page is `json.dumps(..., separators=(",", ":"), default=str)` of
`{"provider", "series_id", "observations": [{"date", "period", "value", "units"}...], "limit",
"next_cursor"}`, and its bytes are the API's contract (ETags are their hash). Building a dict
per row and encoding it was most of an uncached page's CPU; this writes the same bytes from
the row tuples with the encoder's own pieces: strings through the C `encode_basestring_ascii`
json.dumps uses, floats through `float.__repr__` (NaN and infinities as json.dumps spells
them), anything else through json.dumps itself. tests/read_api pins it against json.dumps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

_float_repr = float.__repr__


def dumps(data: Any) -> bytes:
    """The read API's compact JSON (every body that is not an observations page)."""
    return json.dumps(data, separators=(",", ":"), default=str).encode()


def _value(value: Any) -> str:
    """A value as json.dumps writes it (the common float is handled inline by the caller)."""
    return json.dumps(value, separators=(",", ":"), default=str)


def observations_json(
    provider: str,
    series_id: str,
    rows: Sequence[tuple[Any, ...]],
    limit: int,
    next_cursor: str | None,
) -> bytes:
    """`rows`: (obs_date, period_label, value, units), `obs_date` a date."""
    enc = encode_basestring_ascii
    fr = _float_repr
    items = ",".join(
        [
            '{"date":"'
            + obs_date.isoformat()
            + '","period":'
            + (enc(period) if period.__class__ is str else _value(period))
            + ',"value":'
            # `v - v == 0` is false for NaN and the infinities, which json.dumps spells itself.
            + (fr(value) if value.__class__ is float and value - value == 0 else _value(value))
            + ',"units":'
            + (enc(units) if units.__class__ is str else _value(units))
            + "}"
            for obs_date, period, value, units in rows
        ]
    )
    head = '{"provider":' + enc(provider) + ',"series_id":' + enc(series_id)
    tail = '],"limit":' + str(int(limit)) + ',"next_cursor":' + _value(next_cursor) + "}"
    return (head + ',"observations":[' + items + tail).encode()
