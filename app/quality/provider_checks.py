"""Whole-history checks in SQL, for the full-history job: PostgreSQL aggregates the provider's
rows (null keys, non-finite values, dates out of range, duplicated period labels, per-series
order and gaps through window functions) and sends back counts and at most a few sample rows,
so this process's memory does not depend on the history's size. Chunked expectation runs see
one chunk at a time; these see every series from its first row to its last."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from app.quality.engine import PARTIAL_UNEXPECTED, ExpectationOutcome, literal

_TOTALS = """
SELECT count(*) AS rows,
       count(*) FILTER (WHERE series_id IS NULL OR obs_date IS NULL OR period_label IS NULL
                        OR ingested_at IS NULL) AS null_keys,
       count(*) FILTER (WHERE value IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8))
           AS non_finite,
       count(*) FILTER (WHERE obs_date > DATE {future}) AS future,
       count(*) FILTER (WHERE obs_date < DATE '1900-01-01') AS ancient,
       count(*) FILTER (WHERE value IS NOT NULL AND raw_value IS NULL) AS raw_missing
FROM external_timeseries_obs WHERE {own}"""

_DUPLICATE_LABELS = """
SELECT series_id, period_label, count(*) AS copies FROM external_timeseries_obs WHERE {own}
GROUP BY series_id, period_label HAVING count(*) > 1"""

# One ordered pass per series (the primary key's order): the step from the previous row, and
# the series' average step, to flag a step four times longer than its usual one.
_STEPS = """
SELECT series_id, obs_date, period_label, previous_label, step, avg_step FROM (
  SELECT series_id, obs_date, period_label,
         lag(period_label) OVER w AS previous_label,
         obs_date - lag(obs_date) OVER w AS step,
         (max(obs_date) OVER s - min(obs_date) OVER s)::float8
             / greatest(count(*) OVER s - 1, 1) AS avg_step
  FROM external_timeseries_obs WHERE {own}
  WINDOW w AS (PARTITION BY series_id ORDER BY obs_date), s AS (PARTITION BY series_id)
) AS steps WHERE {condition}"""
_NOT_INCREASING = "previous_label IS NOT NULL AND period_label <= previous_label"
_GAP = "step > 4 * avg_step AND step > 7"

TOTAL_CHECKS = (
    ("history.keys.not_null", "null_keys", "error", "no row lacks a key, label or ingest time"),
    ("history.value.finite", "non_finite", "error", "no NaN or infinite values"),
    ("history.obs_date.not_future", "future", "error", "no observation dated a week ahead"),
    ("history.obs_date.not_ancient", "ancient", "error", "no observation before 1900"),
    ("history.raw_value.present", "raw_missing", "error", "a parsed value keeps its raw value"),
)


# Every check's id, in the order of the outcomes.
CHECK_IDS = (
    *(check[0] for check in TOTAL_CHECKS),
    "history.period_label.unique",
    "history.periods.monotonic",
    "history.series.gaps",
)


def history_checks(
    conn: psycopg.Connection[Any], *, tenant_id: str, provider: str, future_after: date
) -> tuple[int, list[ExpectationOutcome]]:
    """(the provider's row count, one outcome per check)."""
    own = f"tenant_id = {literal(tenant_id)} AND provider = {literal(provider)}"
    totals_row = conn.execute(
        _TOTALS.format(own=own, future=literal(future_after.isoformat()))
    ).fetchone()
    assert totals_row is not None
    names = ("rows", "null_keys", "non_finite", "future", "ancient", "raw_missing")
    totals = dict(zip(names, (int(v or 0) for v in totals_row), strict=True))
    outcomes = [
        _outcome(check_id, severity, description, totals[key], totals["rows"])
        for check_id, key, severity, description in TOTAL_CHECKS
    ]
    duplicates = _sample(conn, _DUPLICATE_LABELS.format(own=own))
    outcomes.append(
        _sampled(
            "history.period_label.unique", "error",
            "one row per (series, period label)", duplicates, totals["rows"],
        )
    )  # fmt: skip
    for check_id, severity, description, condition in (
        ("history.periods.monotonic", "error", "period labels increase with the date",
         _NOT_INCREASING),
        ("history.series.gaps", "warning", "no step four times a series' average step",
         _GAP),
    ):  # fmt: skip
        rows = _sample(conn, _STEPS.format(own=own, condition=condition))
        outcomes.append(_sampled(check_id, severity, description, rows, totals["rows"]))
    return totals["rows"], outcomes


def _sample(conn: psycopg.Connection[Any], query: str) -> tuple[int, list[dict[str, Any]]]:
    """How many rows `query` finds, and the first few of them; PostgreSQL counts."""
    counted = conn.execute(f"SELECT count(*) FROM ({query}) AS found").fetchone()  # noqa: S608
    count = int(counted[0]) if counted is not None else 0
    if count == 0:
        return 0, []
    cursor = conn.execute(f"SELECT * FROM ({query}) AS found LIMIT {PARTIAL_UNEXPECTED}")  # noqa: S608
    columns = [c.name for c in cursor.description or ()]
    return count, [
        {name: _plain(value) for name, value in zip(columns, row, strict=True)}
        for row in cursor.fetchall()
    ]


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str) else str(value)


def _outcome(
    check_id: str, severity: str, description: str, unexpected: int, rows: int
) -> ExpectationOutcome:
    return ExpectationOutcome(
        id=check_id,
        type="sql_aggregate_check",
        severity=severity,
        success=unexpected == 0,
        observed={"element_count": rows, "unexpected_count": unexpected},
        description=description,
    )


def _sampled(
    check_id: str,
    severity: str,
    description: str,
    found: tuple[int, list[dict[str, Any]]],
    rows: int,
) -> ExpectationOutcome:
    count, sample = found
    return ExpectationOutcome(
        id=check_id,
        type="sql_window_check",
        severity=severity,
        success=count == 0,
        observed={
            "element_count": rows,
            "observed_value": count,
            "details": {"unexpected_rows": sample},
        },
        description=description,
    )
