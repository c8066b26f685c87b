"""Great Expectations against PostgreSQL: one context per process, a datasource per run, a
query asset per batch (a run's rows, or one chunk of a history). Synchronous and slow: call it
in a worker thread (app.quality.service does). GE is imported here, inside the functions, so
importing the app never imports it."""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event

from app.quality.suites import ExpectationSpec

log = logging.getLogger(__name__)

# How many unexpected values or rows a failed expectation keeps as its observed evidence.
PARTIAL_UNEXPECTED = 20
# Only these columns are validated; the JSONB metadata column stays out of the batch.
COLUMNS = (
    "tenant_id, provider, series_id, obs_date, period_label, value, raw_value, units, "
    "ingested_at, updated_at, run_id"
)


@dataclass(frozen=True)
class ExpectationOutcome:
    id: str
    type: str
    severity: str
    success: bool
    observed: dict[str, Any]
    column: str | None = None
    description: str | None = None
    exception: str | None = None


@dataclass
class SuiteOutcome:
    evaluated: int
    successful: int
    unsuccessful: int
    success_percent: float
    results: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.unsuccessful == 0


def batch_query(provider: str, tenant_id: str) -> str:
    """The provider's rows of one tenant. Both are configuration (a provider name from the
    provider file, the tenant setting), quoted anyway."""
    return (
        f"SELECT {COLUMNS} FROM external_timeseries_obs "  # noqa: S608 - quoted literals below
        f"WHERE tenant_id = {literal(tenant_id)} AND provider = {literal(provider)}"
    )


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# One GE context per process: building one costs a second, and GE's context is not
# thread-safe, so validations (each in its own worker thread) take turns on it one batch at a
# time: a post-ingest validation gets its turn between two chunks of a full-history run.
_CONTEXT: Any = None
_CONTEXT_LOCK = threading.Lock()


@contextlib.contextmanager
def _turn() -> Iterator[Any]:
    """The process's GE context, held by this thread until the block ends."""
    global _CONTEXT
    with _CONTEXT_LOCK, warnings.catch_warnings():
        # GE's own deprecation chatter (pydantic v1 shims, legacy options) is not ours to fix.
        warnings.simplefilter("ignore")
        if _CONTEXT is None:
            _CONTEXT = ephemeral_context()
            # GE's modules and context double the objects a full garbage collection scans
            # (~190k more, ~150 ms a collection: a serving replica's p99 after its first
            # validation). They live as long as the process: frozen, as the lifespan froze
            # what startup built.
            gc.collect()
            gc.freeze()
        yield _CONTEXT


# The batch queries being validated. GE reads a query batch's column names by executing the
# query itself, unbounded, through a client-side cursor: every row of the batch came into this
# process to read one header (a whole history: gigabytes; the 6 GB of a 20M-row validation).
# Its metrics wrap the query in a subquery, so the query's own text reaching the cursor
# verbatim is that header read, and it is answered with no rows.
_BATCH_QUERIES: set[str] = set()


def _header_only(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    if statement in _BATCH_QUERIES:
        return f"SELECT * FROM ({statement}) AS header LIMIT 0", parameters  # noqa: S608
    return statement, parameters


class GeRunner:
    """Validates query batches through one SQL datasource on the process's GE context. Made by
    `ge_runner`, used from one worker thread."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self._count = 0

    def suite(self, name: str, expectations: Sequence[ExpectationSpec]) -> BuiltSuite:
        with _turn():  # building a suite reads GE's active context
            return BuiltSuite(
                order=tuple(spec.meta.id for spec in expectations),
                row_queries=_gx_suite_or_none(f"{name}.queries", expectations, queries=True),
                columns=_gx_suite_or_none(f"{name}.columns", expectations, queries=False),
            )

    def validate(
        self, query: str, suite: BuiltSuite, parameters: dict[str, Any], *, complete: bool = True
    ) -> SuiteOutcome:
        """Run `suite` on the rows `query` selects; the query asset is dropped afterwards so
        the context does not grow with the number of chunks.

        Unexpected-rows queries run with COMPLETE results, for their sample of rows (GE
        fetches at most a few hundred); column expectations with SUMMARY, whose list of
        unexpected values is cut to PARTIAL_UNEXPECTED in SQL: with COMPLETE, GE fetches every
        unexpected value, the whole chunk when every row fails. `complete=False` (aggregates
        over a whole history) asks for SUMMARY throughout."""
        self._count += 1
        name = f"batch{self._count}"
        results: list[ExpectationOutcome] = []
        with _turn():
            asset = self._source.add_query_asset(name=name, query=query)
            _BATCH_QUERIES.add(query)
            try:
                batch = asset.add_batch_definition_whole_table("rows").get_batch()
                for gx_suite, form in (
                    (suite.row_queries, "COMPLETE" if complete else "SUMMARY"),
                    (suite.columns, "SUMMARY"),
                ):
                    if gx_suite is None:
                        continue
                    result = batch.validate(
                        gx_suite,
                        expectation_parameters=parameters,
                        result_format={
                            "result_format": form,
                            "partial_unexpected_count": PARTIAL_UNEXPECTED,
                        },
                    )
                    results += _outcome(result).results
            finally:
                _BATCH_QUERIES.discard(query)
                self._source.delete_asset(name)
        position = {spec_id: index for index, spec_id in enumerate(suite.order)}
        results.sort(key=lambda item: position.get(item.id, len(position)))
        return outcome_of(results)


@dataclass(frozen=True)
class BuiltSuite:
    """A suite split by the result format its expectations need (see GeRunner.validate)."""

    order: tuple[str, ...]
    row_queries: Any
    columns: Any


def _gx_suite_or_none(name: str, specs: Sequence[ExpectationSpec], *, queries: bool) -> Any:
    chosen = [spec for spec in specs if (spec.type == "unexpected_rows_expectation") == queries]
    return build_gx_suite(name, chosen) if chosen else None


def outcome_of(results: list[ExpectationOutcome]) -> SuiteOutcome:
    successful = sum(1 for item in results if item.success)
    return SuiteOutcome(
        evaluated=len(results),
        successful=successful,
        unsuccessful=len(results) - successful,
        success_percent=100.0 * successful / len(results) if results else 100.0,
        results=results,
    )


@contextlib.contextmanager
def ge_runner(
    sync_url: str, *, statement_timeout_ms: int, copy_batch: bool = False
) -> Iterator[GeRunner]:
    """A datasource on `sync_url` in the process's GE context, for one validation run.
    Blocking: call it in a worker thread (app.quality.threads).

    `copy_batch`: GE copies each batch query's rows into a temporary table once and computes
    every metric there. For a batch bounded by the chunk size whose query is costly (the run
    scope's neighbour lookups through every partition), instead of running that query again
    for each metric."""
    name = f"aurum-{uuid.uuid4().hex[:12]}"
    with _turn() as context:
        # `kwargs` (engine options) is a field of SQLDatasource that GE's stub leaves out.
        source = context.data_sources.add_sql(
            name=name,
            connection_string=sync_url,
            create_temp_table=copy_batch,
            kwargs={"connect_args": {"options": f"-c statement_timeout={statement_timeout_ms}"}},
        )
        engine = source.get_execution_engine().engine
        sa_event.listen(engine, "before_cursor_execute", _header_only, retval=True)
    try:
        yield GeRunner(source)
    finally:
        # The datasource's engine holds pooled connections; close them with the run.
        engine = getattr(source, "_engine", None)
        if engine is not None:
            engine.dispose()
        with _turn() as context:
            context.data_sources.delete(name)


def ephemeral_context() -> Any:
    """An in-memory GE context (no files, no analytics, no progress bars); it becomes GE's
    active context, which building suites needs."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    return gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )


def build_gx_suite(name: str, expectations: Sequence[ExpectationSpec]) -> Any:
    """The GE ExpectationSuite of `expectations`; raises if GE refuses an expectation."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    gx_suite = gx.ExpectationSuite(name=name)
    for spec in expectations:
        # add_expectation, not add_expectation_configuration: the latter replaces an
        # expectation on the same domain, so every unexpected_rows_expectation (domain: the
        # table) would overwrite the one before it.
        gx_suite.add_expectation(
            ExpectationConfiguration(
                type=spec.type,
                kwargs=spec.kwargs,
                meta=spec.meta.model_dump(exclude_none=True),
                description=spec.description,
            ).to_domain_obj()
        )
    if len(gx_suite.expectations) != len(expectations):
        raise ValueError(
            f"suite {name}: {len(expectations)} expectations in the files but "
            f"{len(gx_suite.expectations)} distinct ones; remove the duplicates"
        )
    return gx_suite


def _outcome(result: Any) -> SuiteOutcome:
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        meta = dict(config.meta or {})
        exception = _exception(item.exception_info or {})
        outcomes.append(
            ExpectationOutcome(
                id=str(meta.get("id", config.type)),
                type=config.type,
                severity=str(meta.get("severity", "error")),
                success=bool(item.success),
                observed=_observed(item.result or {}),
                column=config.kwargs.get("column"),
                description=config.description,
                exception=exception,
            )
        )
    stats = result.statistics
    return SuiteOutcome(
        evaluated=int(stats["evaluated_expectations"]),
        successful=int(stats["successful_expectations"]),
        unsuccessful=int(stats["unsuccessful_expectations"]),
        success_percent=float(stats["success_percent"] or 0.0),
        results=outcomes,
    )


def _exception(info: dict[str, Any]) -> str | None:
    """GE reports an expectation's own error flat, and a failed metric under its metric id."""
    entries = [info] if "raised_exception" in info else list(info.values())
    messages = [
        str(entry.get("exception_message") or "raised")
        for entry in entries
        if isinstance(entry, dict) and entry.get("raised_exception")
    ]
    return "; ".join(dict.fromkeys(messages))[:1000] if messages else None


_OBSERVED_KEYS = (
    "observed_value",
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "missing_count",
    "partial_unexpected_list",
    "details",
)


def _observed(result: dict[str, Any]) -> dict[str, Any]:
    """The evidence worth keeping: the observed value, counts and a few unexpected values or
    rows (not GE's full unexpected_list, nor its index query)."""
    return {key: _jsonable(result[key]) for key in _OBSERVED_KEYS if key in result}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value[:PARTIAL_UNEXPECTED]]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)
