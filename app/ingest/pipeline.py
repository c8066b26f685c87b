"""One ingest batch: row checks, COPY to staging, upsert, outbox rows, dead letters and
checkpoints, all in the CALLER's transaction.

Unit of work: `ingest_batch` never commits or rolls back. The job wrapper (or a test) commits
after it returns and rolls back on any error, so a crash mid-batch leaves nothing behind: no
observation, no outbox row, no dead letter and no checkpoint move. A rerun of the same batch
then writes it exactly once (the upsert is keyed by tenant, provider, series and date).
Metrics are recorded only when the session commits.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.ingest import statements
from app.ingest.checks import (
    DEFAULT_MAX_FUTURE_DAYS,
    MAX_TENANT,
    MalformedBatch,
    check_checkpoints,
    check_name,
    check_rows,
)
from app.ingest.rows import BatchResult, CheckpointUpdate, RawObservation, Rejected, ValidRow
from app.monitoring.metrics import INGEST_BATCH_SECONDS, INGEST_ROWS

_PENDING_METRICS = "aurum.ingest.pending_metrics"


async def ingest_batch(
    session: AsyncSession,
    *,
    tenant_id: str,
    provider: str,
    rows: Sequence[RawObservation],
    run_id: uuid.UUID,
    batch_id: uuid.UUID | None = None,
    checkpoints: Sequence[CheckpointUpdate] = (),
    topic: str,
    dlq_topic: str,
    max_future_days: int = DEFAULT_MAX_FUTURE_DAYS,
) -> BatchResult:
    """Write one batch in the session's transaction; the caller commits (see module doc).

    Raises MalformedBatch (422) for a batch that cannot be ingested at all; the caller rolls
    back and the checkpoint stays where it was.
    """
    started = time.perf_counter()
    check_name("tenant_id", tenant_id, MAX_TENANT)
    check_name("topic", topic, 249)
    check_name("dlq_topic", dlq_topic, 249)
    if not isinstance(run_id, uuid.UUID):
        raise MalformedBatch("run_id must be a UUID")
    valid, rejected = check_rows(provider, rows, max_future_days=max_future_days)
    updates = check_checkpoints(checkpoints)
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "provider": provider,
        "run_id": str(run_id),
        "batch_id": str(batch_id or uuid.uuid4()),
        "topic": topic,
        "dlq_topic": dlq_topic,
    }

    raw = await _driver_connection(session)
    new = changed = 0
    async with raw.cursor() as cursor:
        if valid:
            await cursor.execute(statements.CREATE_STAGING)
            await _copy_rows(cursor, valid)
            await cursor.execute(statements.ANALYZE_STAGING)
            await cursor.execute(statements.UPSERT_WITH_OUTBOX, params)
            counts = await cursor.fetchone()
            assert counts is not None
            new, changed = int(counts[0]), int(counts[1])
        if rejected:
            dead = {**params, "rows": _dead_letters_json(rejected)}
            await cursor.execute(statements.DEAD_LETTERS_WITH_DLQ, dead)
        if updates:
            marks = {**params, "rows": _checkpoints_json(updates)}
            await cursor.execute(statements.UPSERT_CHECKPOINTS, marks)

    result = BatchResult(
        new=new, changed=changed, unchanged=len(valid) - new - changed, rejected=len(rejected)
    )
    _record_on_commit(session, provider, result, time.perf_counter() - started)
    return result


async def _driver_connection(session: AsyncSession) -> AsyncConnection[Any]:
    """The psycopg connection under the session's (begun) transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, AsyncConnection):
        raise TypeError(f"ingest needs the psycopg async driver, not {type(driver).__name__}")
    return driver


# COPY's text format: a backslash, tab, newline or carriage return inside a value is
# escaped; a NULL is \N. Checked rows hold no NUL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_CHUNK_ROWS = 1000
_NULL = "\\N"


def _text(value: str | None) -> str:
    if value is None:
        return _NULL
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def copy_lines(rows: list[ValidRow]) -> str:
    """The rows as COPY text lines (series_id, obs_date, period_label, value, raw_value,
    units, metadata). Formatting the text here, a chunk at a time, costs less than psycopg's
    `write_row`, which adapts every field of every row on its own."""
    return "".join(
        f"{_text(row.series_id)}\t{row.obs_date.isoformat()}\t{_text(row.period_label)}\t"
        f"{_NULL if row.value is None else repr(row.value)}\t{_text(row.raw_value)}\t"
        f"{_text(row.units)}\t{_text(row.metadata_json)}\n"
        for row in rows
    )


async def _copy_rows(cursor: Any, rows: list[ValidRow]) -> None:
    async with cursor.copy(statements.COPY_STAGING) as copy:
        for start in range(0, len(rows), _COPY_CHUNK_ROWS):
            await copy.write(copy_lines(rows[start : start + _COPY_CHUNK_ROWS]))


def _dead_letters_json(rejected: list[Rejected]) -> str:
    items = []
    for item in rejected:
        payload = item.row.as_payload()
        try:
            json.dumps(payload, allow_nan=False, default=str)
        except ValueError:  # NaN or infinity somewhere inside the metadata
            payload["metadata"] = repr(payload["metadata"])
        series_id = item.row.series_id
        items.append(
            {
                "series_id": series_id if isinstance(series_id, str) else str(series_id),
                "reason": item.reason,
                "payload": payload,
            }
        )
    text = json.dumps(items, allow_nan=False, default=str)
    # PostgreSQL's jsonb cannot hold NUL; the dead letter keeps a visible stand-in instead.
    return text.replace("\\u0000", "\\\\u0000")


def _checkpoints_json(updates: list[CheckpointUpdate]) -> str:
    return json.dumps(
        [
            {
                "series_id": update.series_id,
                "last_obs_date": update.last_obs_date.isoformat() if update.last_obs_date else None,
                "provider_last_updated": update.provider_last_updated.isoformat()
                if update.provider_last_updated
                else None,
                "cursor": update.cursor,
            }
            for update in updates
        ],
        allow_nan=False,
    )


def _record_on_commit(
    session: AsyncSession, provider: str, result: BatchResult, seconds: float
) -> None:
    """Count the batch when (and only if) the caller's transaction commits."""
    sync = session.sync_session
    pending: list[tuple[str, BatchResult, float]] | None = sync.info.get(_PENDING_METRICS)
    if pending is None:
        pending = sync.info[_PENDING_METRICS] = []
        event.listen(sync, "after_commit", _flush_metrics)
        event.listen(sync, "after_rollback", _drop_metrics)
    pending.append((provider, result, seconds))


def _flush_metrics(sync: Session) -> None:
    pending = sync.info.get(_PENDING_METRICS) or []
    for provider, result, seconds in pending:
        INGEST_BATCH_SECONDS.labels(provider).observe(seconds)
        for kind in ("new", "changed", "unchanged", "rejected"):
            INGEST_ROWS.labels(provider, kind).inc(getattr(result, kind))
    pending.clear()


def _drop_metrics(sync: Session) -> None:
    (sync.info.get(_PENDING_METRICS) or []).clear()
