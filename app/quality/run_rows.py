"""Run scope: the validation after an ingest reads the rows that run wrote (their `run_id` is
the run's: the upsert sets it on every new or changed row, and the column is indexed) plus,
for checks that compare a row with its neighbours (a jump from the previous value, a gap,
period labels that must increase), the row just before and just after each of them in its
series. Its cost follows the run's size, not the history's."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from app.quality.chunks import KeyRange, key_ranges, keys_connection, range_condition
from app.quality.engine import COLUMNS, SuiteOutcome, ge_runner, literal
from app.quality.merge import OutcomeMerger
from app.quality.suites import ExpectationSpec, ProviderSuite

# Expectations about a whole history, meaningless on one run's rows: the row-count change
# bound, every configured series present, and freshness (a run that revised an old value
# has an old latest date). The full-history job runs them.
HISTORY_ONLY_TYPES = frozenset(
    {"expect_table_row_count_to_be_between", "expect_column_distinct_values_to_contain_set"}
)


def history_only(spec: ExpectationSpec) -> bool:
    """Whether `spec` only means something over the provider's whole history."""
    if spec.type in HISTORY_ONLY_TYPES:
        return True
    # Freshness: a lower bound on the latest date. An upper bound (no future dates) holds
    # on any subset of rows, so it stays in the run scope.
    return spec.type == "expect_column_max_to_be_between" and "min_value" in spec.kwargs


def run_expectations(suite: ProviderSuite) -> tuple[ExpectationSpec, ...]:
    return tuple(spec for spec in suite.expectations if not history_only(spec))


@dataclass(frozen=True)
class ScopedOutcome:
    outcome: SuiteOutcome
    chunks: int


def run_keys_sql(*, tenant_id: str, provider: str, run_id: uuid.UUID) -> str:
    """The keys of the rows `run_id` wrote (index on run_id)."""
    return (
        "SELECT series_id, obs_date FROM external_timeseries_obs "  # noqa: S608 - quoted literals
        f"WHERE run_id = {literal(str(run_id))}::uuid AND tenant_id = {literal(tenant_id)} "
        f"AND provider = {literal(provider)}"
    )


def run_batch_query(
    *, tenant_id: str, provider: str, run_id: uuid.UUID, keys: KeyRange | None = None
) -> str:
    """The run's rows in `keys` (all of them by default) and their neighbours in their
    series, each read through the primary key."""
    own = f"{literal(tenant_id)} AND o.provider = {literal(provider)}"
    rows = run_keys_sql(tenant_id=tenant_id, provider=provider, run_id=run_id)
    if keys is not None:
        rows += f" AND {range_condition(keys)}"

    def neighbour(direction: str, order: str) -> str:
        return (
            "SELECT n.series_id, n.obs_date FROM run_rows AS r CROSS JOIN LATERAL ("  # noqa: S608
            "SELECT o.series_id, o.obs_date FROM external_timeseries_obs AS o "
            f"WHERE o.tenant_id = {own} AND o.series_id = r.series_id "
            f"AND o.obs_date {direction} r.obs_date ORDER BY o.obs_date {order} LIMIT 1) AS n"
        )

    columns = ", ".join(f"o.{name.strip()}" for name in COLUMNS.split(","))
    # GE takes a query that starts with SELECT: the CTE goes inside a subquery.
    return (
        f"SELECT * FROM (WITH run_rows AS ({rows}), keys AS (SELECT series_id, obs_date "  # noqa: S608
        f"FROM run_rows UNION {neighbour('<', 'DESC')} UNION {neighbour('>', 'ASC')}) "
        f"SELECT {columns} FROM external_timeseries_obs AS o JOIN keys AS k "
        "ON k.series_id = o.series_id AND k.obs_date = o.obs_date "
        f"WHERE o.tenant_id = {own}) AS run_batch"
    )


def validate_run(
    sync_url: str,
    suite: ProviderSuite,
    *,
    tenant_id: str,
    run_id: uuid.UUID,
    parameters: dict[str, Any],
    chunk_rows: int,
    statement_timeout_ms: int,
) -> ScopedOutcome:
    """Validate the rows of one ingest run, `chunk_rows` of them (and their neighbours) per
    Great Expectations batch. Blocking: call it in a worker thread."""
    specs = run_expectations(suite)
    merger = OutcomeMerger.for_specs(specs)
    chunks = 0
    keys_sql = run_keys_sql(tenant_id=tenant_id, provider=suite.provider, run_id=run_id)
    with (
        keys_connection(sync_url, statement_timeout_ms) as conn,
        ge_runner(sync_url, statement_timeout_ms=statement_timeout_ms, copy_batch=True) as runner,
    ):
        gx_suite = runner.suite(f"{suite.name}.run", specs)
        for keys in key_ranges(conn, keys_sql, chunk_rows):
            query = run_batch_query(
                tenant_id=tenant_id, provider=suite.provider, run_id=run_id, keys=keys
            )
            merger.add(runner.validate(query, gx_suite, parameters))
            chunks += 1
    return ScopedOutcome(merger.result(), chunks)
