"""Row checks: every row either passes or is rejected with a reason; none is silently dropped.

Duplicates: when a batch holds the same (series_id, obs_date) more than once, the LAST row
wins (a collector emits revisions after the original) and every earlier one is rejected with
"duplicate key in batch". The upsert could not take both anyway: PostgreSQL refuses to update
one row twice in a single `INSERT ... ON CONFLICT DO UPDATE`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from app.errors import InvalidInput
from app.ingest.rows import CheckpointUpdate, RawObservation, Rejected, ValidRow

# Column widths of external_timeseries_obs / ingest_checkpoints.
MAX_TENANT = 64
MAX_PROVIDER = 32
MAX_SERIES_ID = 256
MAX_PERIOD_LABEL = 32
MAX_RAW_VALUE = 64
MAX_UNITS = 256
# Forecast series (EIA STEO and the like) carry future dates; beyond this is a parsing bug.
DEFAULT_MAX_FUTURE_DAYS = 3660

DUPLICATE = "duplicate key in batch"
_EMPTY_JSON = "{}"


class MalformedBatch(InvalidInput):
    """The batch itself is unusable: nothing is written and no checkpoint moves."""

    code = "malformed_batch"


# One encoder for every row: json.dumps with non-default options builds a new one per call,
# which was a third of the checks' time.
_ENCODE = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
# Providers repeat the same small metadata on every row of a page (FRED's realtime window),
# so flat all-text objects are memoised. Only all-text ones: 1, 1.0 and True are equal as
# dict values but serialise differently.
_MEMO: dict[tuple[tuple[Any, Any], ...], str] = {}
_MEMO_MAX = 4096


def _metadata_json(metadata: object) -> str | None:
    if not metadata:
        return _EMPTY_JSON if isinstance(metadata, dict) else None
    if not isinstance(metadata, dict):
        return None
    items = tuple(metadata.items())
    # Looked up first: only flat all-text objects are stored, and a tuple equal to a stored
    # one holds equal text (a str subclass encodes the same), so a hit needs no type walk.
    try:
        known = _MEMO.get(items)
    except TypeError:  # a nested list or object: not hashable, never memoised
        known = None
    if known is not None:
        return known
    flat_text = all(type(k) is str and type(v) is str for k, v in items)
    try:
        encoded = _ENCODE(metadata)
    except (TypeError, ValueError):
        return None
    if flat_text:
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        _MEMO[items] = encoded
    return encoded


def _reason(row: RawObservation, latest: date, future_reason: str) -> str | ValidRow:
    """The first failed check's reason, or the row ready for COPY."""
    series_id, obs_date, value = row.series_id, row.obs_date, row.value
    if not isinstance(series_id, str) or not series_id.strip():
        return "series_id empty"
    if len(series_id) > MAX_SERIES_ID:
        return f"series_id too long (> {MAX_SERIES_ID})"
    if obs_date is None:
        return "missing obs_date"
    if isinstance(obs_date, datetime) or not isinstance(obs_date, date):
        return "obs_date is not a date"
    if obs_date > latest:
        return future_reason
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "value is not a number"
        if not math.isfinite(value):
            return "value is not finite"
    label = row.period_label
    if not isinstance(label, str) or not label:
        return "period_label empty"
    if len(label) > MAX_PERIOD_LABEL:
        return f"period_label too long (> {MAX_PERIOD_LABEL})"
    if row.raw_value is not None and (
        not isinstance(row.raw_value, str) or len(row.raw_value) > MAX_RAW_VALUE
    ):
        return f"raw_value not text of at most {MAX_RAW_VALUE} characters"
    if row.units is not None and (not isinstance(row.units, str) or len(row.units) > MAX_UNITS):
        return f"units not text of at most {MAX_UNITS} characters"
    if (
        "\x00" in series_id
        or "\x00" in label
        or "\x00" in (row.raw_value or "")
        or ("\x00" in (row.units or ""))
    ):
        return "text contains a NUL character"
    metadata_json = _metadata_json(row.metadata)
    if metadata_json is None:
        return "metadata is not a JSON object"
    if "\\u0000" in metadata_json:
        return "metadata contains a NUL character"
    return ValidRow(
        series_id,
        label,
        obs_date,
        None if value is None else float(value),
        row.raw_value,
        row.units,
        metadata_json,
    )


def check_rows(
    provider: str,
    rows: Iterable[RawObservation],
    *,
    max_future_days: int = DEFAULT_MAX_FUTURE_DAYS,
    today: date | None = None,
) -> tuple[list[ValidRow], list[Rejected]]:
    """Split a batch into rows to write and rows to dead-letter (with reasons), in input order.

    Raises MalformedBatch when the batch itself is unusable (an element that is not a
    RawObservation, a bad provider name).

    Every row is either accepted by `_plainly_valid` (exact types, text already seen in an
    accepted row) or judged by `_reason`, which applies every check in order and names the
    first that fails; a row `_plainly_valid` accepts is one `_reason` would pass unchanged.
    """
    check_name("provider", provider, MAX_PROVIDER)
    latest = (today or date.today()) + timedelta(days=max_future_days)
    future_reason = f"obs_date in the future beyond {max_future_days} days"
    passed: list[ValidRow] = []
    rejected: list[Rejected] = []
    seen = _Seen()
    for index, row in enumerate(rows):
        if type(row) is not RawObservation and not isinstance(row, RawObservation):
            raise MalformedBatch(
                f"row {index} of the {provider} batch is a {type(row).__name__}, "
                "not a RawObservation"
            )
        if _plainly_valid(row, latest, seen):
            passed.append(
                ValidRow(
                    row.series_id,
                    row.period_label,
                    row.obs_date,  # type: ignore[arg-type]  # a date: checked
                    row.value,
                    row.raw_value,
                    row.units,
                    seen.metadata_json,
                )
            )
            continue
        outcome = _reason(row, latest, future_reason)
        if isinstance(outcome, str):
            rejected.append(Rejected(row, outcome))
        else:
            passed.append(outcome)
            seen.accepted(row, outcome.metadata_json)
    return _last_of_each_key(passed, rejected)


class _Seen:
    """The text fields and metadata of the last row `_reason` accepted. Rows of a batch mostly
    repeat them (one series, one unit, one metadata dict), so a row holding the very same
    objects needs none of their checks again."""

    __slots__ = ("metadata", "metadata_json", "series_id", "units")

    def __init__(self) -> None:
        self.series_id: object = _NOTHING
        self.units: object = _NOTHING
        self.metadata: object = _NOTHING
        self.metadata_json = _EMPTY_JSON

    def accepted(self, row: RawObservation, metadata_json: str) -> None:
        self.series_id, self.units = row.series_id, row.units
        self.metadata, self.metadata_json = row.metadata, metadata_json


_NOTHING = object()


def _plainly_valid(row: RawObservation, latest: date, seen: _Seen) -> bool:
    """True only for a row `_reason` would pass: the exact types the checks expect, and the
    series id, units and metadata of an accepted row (the same objects)."""
    day, value, label, raw = row.obs_date, row.value, row.period_label, row.raw_value
    return (
        row.series_id is seen.series_id
        and row.units is seen.units
        and row.metadata is seen.metadata
        and type(day) is date
        and day <= latest
        and (value is None or (type(value) is float and value - value == 0.0))  # finite
        and type(label) is str
        and 0 < len(label) <= MAX_PERIOD_LABEL
        and "\x00" not in label
        and (raw is None or (type(raw) is str and len(raw) <= MAX_RAW_VALUE and "\x00" not in raw))
    )


def _last_of_each_key(
    passed: list[ValidRow], rejected: list[Rejected]
) -> tuple[list[ValidRow], list[Rejected]]:
    """Keep the last row of each key; the earlier ones are rejected as duplicates."""
    if len({row.series_id for row in passed}) <= 1:  # the usual batch: dates alone are keys
        unique = len({row.obs_date for row in passed})
    else:
        unique = len({(row.series_id, row.obs_date) for row in passed})
    if unique == len(passed):
        return passed, rejected
    # Walk backwards so "last" needs no second pass.
    seen: set[tuple[str, date]] = set()
    valid: list[ValidRow] = []
    duplicates: list[tuple[int, ValidRow]] = []
    for position in range(len(passed) - 1, -1, -1):
        candidate = passed[position]
        key = (candidate.series_id, candidate.obs_date)
        if key in seen:
            duplicates.append((position, candidate))
        else:
            seen.add(key)
            valid.append(candidate)
    valid.reverse()
    for _, duplicate in reversed(duplicates):
        rejected.append(Rejected(_as_raw(duplicate), DUPLICATE))
    return valid, rejected


def _as_raw(row: ValidRow) -> RawObservation:
    return RawObservation(
        series_id=row.series_id,
        period_label=row.period_label,
        obs_date=row.obs_date,
        value=row.value,
        raw_value=row.raw_value,
        units=row.units,
        metadata=json.loads(row.metadata_json),
    )


def check_name(what: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise MalformedBatch(f"{what} must be non-empty text of at most {limit} characters")


def check_checkpoints(checkpoints: Sequence[CheckpointUpdate]) -> list[CheckpointUpdate]:
    """Checkpoints are all-or-nothing: one bad entry makes the batch malformed. Last one wins."""
    latest: dict[str, CheckpointUpdate] = {}
    for update in checkpoints:
        if not isinstance(update, CheckpointUpdate):
            raise MalformedBatch(f"checkpoint {update!r} is not a CheckpointUpdate")
        check_name("checkpoint series_id", update.series_id, MAX_SERIES_ID)
        last = update.last_obs_date
        if last is not None and (isinstance(last, datetime) or not isinstance(last, date)):
            raise MalformedBatch(f"checkpoint {update.series_id}: last_obs_date is not a date")
        stamp = update.provider_last_updated
        if stamp is not None and (not isinstance(stamp, datetime) or stamp.tzinfo is None):
            raise MalformedBatch(
                f"checkpoint {update.series_id}: provider_last_updated must be timezone-aware"
            )
        if _metadata_json(update.cursor) is None:
            raise MalformedBatch(f"checkpoint {update.series_id}: cursor is not a JSON object")
        latest[update.series_id] = update
    return list(latest.values())
