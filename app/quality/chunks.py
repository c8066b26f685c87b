"""Keyset chunks of a set of observation keys: each chunk is a (series_id, obs_date) range
holding at most `chunk_rows` of the set, found with an index-ordered OFFSET from the last
boundary, so neither this process nor a single statement ever holds the whole set."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from app.db.engine import libpq_url
from app.quality.engine import literal

Key = tuple[str, date]


@dataclass(frozen=True)
class KeyRange:
    """Keys after `low` (exclusive; None: from the first) up to `high` (inclusive; None: to
    the last)."""

    low: Key | None
    high: Key | None


def key_ranges(conn: psycopg.Connection[Any], keys_sql: str, chunk_rows: int) -> Iterator[KeyRange]:
    """Consecutive ranges over the keys `keys_sql` selects (columns series_id, obs_date),
    `chunk_rows` keys each, the last one open-ended. Computed lazily, one boundary per step."""
    low: Key | None = None
    while True:
        after = "" if low is None else "WHERE (k.series_id, k.obs_date) > (%s, %s)"
        row = conn.execute(
            f"SELECT k.series_id, k.obs_date FROM ({keys_sql}) AS k {after} "  # noqa: S608 - built from quoted literals
            "ORDER BY k.series_id, k.obs_date OFFSET %s LIMIT 1",
            (*(low or ()), chunk_rows - 1),
        ).fetchone()
        if row is None:
            if low is not None or _any(conn, keys_sql):
                yield KeyRange(low, None)
            return
        high = (str(row[0]), row[1])
        yield KeyRange(low, high)
        low = high


def keys_connection(sync_url: str, statement_timeout_ms: int) -> psycopg.Connection[Any]:
    """A connection for the boundary queries, bounded like the validation's own."""
    return psycopg.connect(
        libpq_url(sync_url),
        autocommit=True,
        options=f"-c statement_timeout={statement_timeout_ms}",
    )


def range_condition(keys: KeyRange, *, alias: str = "", include_low: bool = False) -> str:
    """SQL condition on (series_id, obs_date) for `keys`; `include_low` also takes the row at
    the lower boundary (the previous chunk's last row, context for lag-based checks)."""
    prefix = f"{alias}." if alias else ""
    column = f"({prefix}series_id, {prefix}obs_date)"
    parts = ["TRUE"]
    if keys.low is not None:
        low = f"({literal(keys.low[0])}, DATE {literal(keys.low[1].isoformat())})"
        parts.append(f"{column} {'>=' if include_low else '>'} {low}")
    if keys.high is not None:
        high = f"({literal(keys.high[0])}, DATE {literal(keys.high[1].isoformat())})"
        parts.append(f"{column} <= {high}")
    return " AND ".join(parts)


def _any(conn: psycopg.Connection[Any], keys_sql: str) -> bool:
    return conn.execute(f"SELECT EXISTS ({keys_sql})").fetchone() == (True,)
