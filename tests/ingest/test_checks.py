"""Row checks and batch sizing, without a database."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from app.ingest.batching import batches, effective_batch_size
from app.ingest.checks import MalformedBatch, check_rows
from tests.ingest.support import obs

TODAY = date(2026, 1, 1)


def _reasons(*rows: object, **kwargs: object) -> list[str]:
    _, rejected = check_rows("fred", rows, today=TODAY, **kwargs)  # type: ignore[arg-type]
    return [r.reason for r in rejected]


def test_each_failed_check_has_its_reason() -> None:
    day = date(2025, 1, 1)
    assert _reasons(
        obs("S", day, float("inf")),
        obs("S", day, 1.0, obs_date=datetime(2025, 1, 1)),
        obs("S", day, True),
        obs("S" * 300, day, 1.0),
        obs("S", day, 1.0, period_label=""),
        obs("S", day, 1.0, raw_value="9" * 65),
        obs("S", day, 1.0, metadata={"when": datetime(2025, 1, 1)}),
        obs("S", day, 1.0, units="a\x00b"),
        obs("S", date(2026, 1, 11), 1.0),
        max_future_days=7,
    ) == [
        "value is not finite",
        "obs_date is not a date",
        "value is not a number",
        "series_id too long (> 256)",
        "period_label empty",
        "raw_value not text of at most 64 characters",
        "metadata is not a JSON object",
        "text contains a NUL character",
        "obs_date in the future beyond 7 days",
    ]


def test_duplicates_keep_the_last_row_and_reject_the_earlier_ones() -> None:
    day = date(2025, 1, 1)
    valid, rejected = check_rows(
        "fred", [obs("S", day, 1.0), obs("T", day, 5.0), obs("S", day, 2.0), obs("S", day, 3.0)]
    )
    assert [(r.series_id, r.value) for r in valid] == [("T", 5.0), ("S", 3.0)]
    assert [(r.row.value, r.reason) for r in rejected] == [
        (1.0, "duplicate key in batch"),
        (2.0, "duplicate key in batch"),
    ]


def test_a_bad_provider_name_is_a_malformed_batch() -> None:
    with pytest.raises(MalformedBatch):
        check_rows("x" * 33, [])


def test_batch_size_from_config_and_flag() -> None:
    assert effective_batch_size(500, None) == 500
    assert effective_batch_size(500, {"batch_size": 200}) == 200
    assert effective_batch_size(500, {"batch_size": 0}) == 500
    assert effective_batch_size(500, {"batch_size": "big"}) == 500
    assert [list(b) for b in batches([1, 2, 3, 4, 5], 2)] == [[1, 2], [3, 4], [5]]
