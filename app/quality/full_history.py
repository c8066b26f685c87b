"""Full-history scope, for the scheduled `quality.full_history` job: the provider's whole
history in bounded memory. Three passes, none of which holds the history in this process:

1. SQL checks (app.quality.provider_checks): PostgreSQL aggregates, only counts and samples
   come back.
2. The suite's aggregate expectations (row count, latest and earliest dates, series present,
   columns) once, on the whole history: GE computes them as SQL aggregates (and reads no rows
   for the batch's header: app.quality.engine).
3. The suite's row expectations on keyset chunks of `chunk_rows` rows, each chunk with the
   previous chunk's last row as context for lag-based checks; results merged per expectation.

It claims the `full` scope only, so it never blocks an ingest's own validation or a collection
(which take no validation claim at all)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from app.quality.chunks import key_ranges, keys_connection, range_condition
from app.quality.engine import COLUMNS, ge_runner, literal
from app.quality.merge import OutcomeMerger
from app.quality.provider_checks import history_checks
from app.quality.run_rows import ScopedOutcome
from app.quality.suites import ExpectationSpec, ProviderSuite

# Computed by GE as one aggregate over the batch: run once on the whole history.
AGGREGATE_TYPES = frozenset(
    {
        "expect_table_row_count_to_be_between",
        "expect_table_columns_to_match_set",
        "expect_column_distinct_values_to_contain_set",
        "expect_column_max_to_be_between",
        "expect_column_min_to_be_between",
    }
)


def split(suite: ProviderSuite) -> tuple[tuple[ExpectationSpec, ...], tuple[ExpectationSpec, ...]]:
    """(aggregate expectations, row expectations) of `suite`."""
    aggregates = tuple(s for s in suite.expectations if s.type in AGGREGATE_TYPES)
    rows = tuple(s for s in suite.expectations if s.type not in AGGREGATE_TYPES)
    return aggregates, rows


# The SQL checks and the aggregate expectations each read the whole history in one statement
# (an aggregate, a window pass): longer than a request's statement timeout allows at tens of
# millions of rows. Still bounded, so a runaway statement ends.
CHECKS_STATEMENT_TIMEOUT_MS = 30 * 60 * 1000


def history_sql(*, tenant_id: str, provider: str, columns: str = "series_id, obs_date") -> str:
    """The provider's rows (by default their keys only, for the chunk boundaries)."""
    return (
        f"SELECT {columns} FROM external_timeseries_obs "  # noqa: S608 - quoted literals
        f"WHERE tenant_id = {literal(tenant_id)} AND provider = {literal(provider)}"
    )


def validate_history(
    sync_url: str,
    suite: ProviderSuite,
    *,
    tenant_id: str,
    parameters: dict[str, Any],
    chunk_rows: int,
    statement_timeout_ms: int,
) -> ScopedOutcome:
    """Validate the provider's whole history. Blocking: call it in a worker thread."""
    aggregates, rows = split(suite)
    merger = OutcomeMerger.for_specs(rows)
    keys_sql = history_sql(tenant_id=tenant_id, provider=suite.provider)
    rows_sql = history_sql(tenant_id=tenant_id, provider=suite.provider, columns=COLUMNS)
    today = date.fromisoformat(str(parameters["today"]))
    timeout_ms = max(statement_timeout_ms, CHECKS_STATEMENT_TIMEOUT_MS)
    chunks = 0
    with (
        keys_connection(sync_url, timeout_ms) as conn,
        ge_runner(sync_url, statement_timeout_ms=timeout_ms) as runner,
    ):
        _, checks = history_checks(
            conn, tenant_id=tenant_id, provider=suite.provider,
            future_after=today + timedelta(days=7),
        )  # fmt: skip
        if aggregates:
            gx_aggregates = runner.suite(f"{suite.name}.aggregates", aggregates)
            merger.add(runner.validate(rows_sql, gx_aggregates, parameters, complete=False))
        gx_rows = runner.suite(f"{suite.name}.rows", rows)
        for keys in key_ranges(conn, keys_sql, chunk_rows):
            chunk = f"{rows_sql} AND {range_condition(keys, include_low=True)}"
            merger.add(runner.validate(chunk, gx_rows, parameters))
            chunks += 1
        merger.add(checks)
    return ScopedOutcome(merger.result(), chunks)
