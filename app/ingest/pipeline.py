"""One ingest batch: row checks, then new rows COPYed into the table and existing ones
upserted through staging, outbox rows, dead letters, checkpoints and the monthly stats of the
months written (app/db/repositories/series_stats.py), all in the CALLER's transaction
(statements.py lists the statements).

Two steps, so a collection can overlap them: `prepare_batch` checks the rows and formats what
the writes send (Python only), `write_prepared` sends it (mostly PostgreSQL's work);
`ingest_batch` is both.

New keys: the pipeline looks up which of the batch's keys are stored; rows with a new key
cannot conflict, so they skip staging and `ON CONFLICT` and are COPYed straight into the
observations table, with their outbox messages (app/ingest/messages.py) COPYed beside them.
That is what makes a first load or a backfill cost about a raw COPY plus the outbox. A key
stored by another writer in the meantime makes that COPY fail with a unique violation: a
savepoint takes it back and the rows are upserted instead, so the outcome never depends on
the lookup being current.

Unit of work: `ingest_batch` never commits or rolls back. The job wrapper (or a test) commits
after it returns and rolls back on any error, so a crash mid-batch leaves nothing behind: no
observation, no outbox row, no dead letter and no checkpoint move. A rerun of the same batch
then writes it exactly once (the upsert is keyed by tenant, provider, series and date).
Metrics are recorded only when the session commits.

Kafka off (`publish=False`, AURUM_KAFKA_ENABLED=false): the same writes without a single
outbox row, since nothing would ever send them.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg.errors import UniqueViolation
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db.repositories import series_stats
from app.ingest import statements
from app.ingest.allocation import collector_paused
from app.ingest.checks import (
    DEFAULT_MAX_FUTURE_DAYS,
    MAX_TENANT,
    MalformedBatch,
    check_checkpoints,
    check_name,
    check_rows,
)
from app.ingest.copy_text import field, observation_lines
from app.ingest.messages import Envelope, Part, fragments, outbox_lines, parts
from app.ingest.rows import BatchResult, CheckpointUpdate, RawObservation, Rejected, ValidRow
from app.monitoring.metrics import INGEST_BATCH_SECONDS, INGEST_ROWS

log = logging.getLogger(__name__)
_PENDING_METRICS = "aurum.ingest.pending_metrics"


@dataclass(slots=True)
class PreparedBatch:
    """A checked batch with its COPY text and message fragments, ready to write. Preparing is
    Python work only, so a collection prepares the next batch while this one is written."""

    params: dict[str, Any]  # tenant_id, provider, run_id, batch_id, topic, dlq_topic
    publish: bool  # write outbox rows (false: Kafka is off)
    valid: list[ValidRow]
    rejected: list[Rejected]
    checkpoints: list[CheckpointUpdate]
    prefix: str  # the COPY text of the leading columns (statements.LEADING_COLUMNS)
    lines: str  # every valid row as COPY text, after `prefix`
    pieces: list[str]  # every valid row's observation JSON, for new rows' messages
    parts: list[Part]  # the messages of every valid row, if all of them turn out new
    series: list[str]  # the valid rows' series
    first: date | None  # the valid rows' earliest date
    last: date | None  # and latest
    seconds: float  # spent preparing

    @property
    def provider(self) -> str:
        return str(self.params["provider"])


def prepare_batch(
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
    publish: bool = True,
) -> PreparedBatch:
    """Check the batch and format what its writes send. Raises MalformedBatch (422) for a
    batch that cannot be ingested at all."""
    started = time.perf_counter()
    check_name("tenant_id", tenant_id, MAX_TENANT)
    check_name("topic", topic, 249)
    check_name("dlq_topic", dlq_topic, 249)
    if not isinstance(run_id, uuid.UUID):
        raise MalformedBatch("run_id must be a UUID")
    with collector_paused():
        valid, rejected = check_rows(provider, rows, max_future_days=max_future_days)
        updates = check_checkpoints(checkpoints)
        batch = str(batch_id or uuid.uuid4())
        params: dict[str, Any] = {
            "tenant_id": tenant_id,
            "provider": provider,
            "run_id": str(run_id),
            "batch_id": batch,
            "topic": topic,
            "dlq_topic": dlq_topic,
        }
        prefix = f"{field(tenant_id)}\t{field(provider)}\t{run_id}\t{batch}\t"
        pieces = fragments(valid)
        dates = [row.obs_date for row in valid]
        prepared = PreparedBatch(
            params=params,
            publish=publish,
            valid=valid,
            rejected=rejected,
            checkpoints=updates,
            prefix=prefix,
            lines=observation_lines(valid, prefix),
            pieces=pieces,
            parts=parts(valid, pieces),
            series=sorted({row.series_id for row in valid}),
            first=min(dates, default=None),
            last=max(dates, default=None),
            seconds=0.0,
        )
    prepared.seconds = time.perf_counter() - started
    return prepared


async def write_prepared(session: AsyncSession, batch: PreparedBatch) -> BatchResult:
    """Write a prepared batch in the session's transaction; the caller commits (module doc)."""
    started = time.perf_counter()
    raw = await _driver_connection(session)
    new = changed = 0
    touched: set[tuple[str, date]] = set()
    async with raw.cursor() as cursor:
        if batch.valid:
            new, changed, touched = await _write_rows(cursor, batch)
        if batch.rejected:
            dead = {**batch.params, "rows": _dead_letters_json(batch.rejected)}
            with_dlq = statements.DEAD_LETTERS_WITH_DLQ if batch.publish else None
            await cursor.execute(with_dlq or statements.DEAD_LETTERS, dead)
        if batch.checkpoints:
            marks = {**batch.params, "rows": _checkpoints_json(batch.checkpoints)}
            await cursor.execute(statements.UPSERT_CHECKPOINTS, marks)
    # The SLA's aggregates follow the rows, in this transaction: only the months written.
    tenant, provider = batch.params["tenant_id"], batch.params["provider"]
    await series_stats.refresh(session, ((tenant, provider, s, m) for s, m in touched))

    result = BatchResult(
        new=new,
        changed=changed,
        unchanged=len(batch.valid) - new - changed,
        rejected=len(batch.rejected),
    )
    seconds = batch.seconds + time.perf_counter() - started
    _record_on_commit(session, batch.provider, result, seconds)
    return result


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
    publish: bool = True,
) -> BatchResult:
    """Prepare and write one batch in the session's transaction; the caller commits (see
    module doc). Raises MalformedBatch (422) for a batch that cannot be ingested at all; the
    caller rolls back and the checkpoint stays where it was."""
    prepared = prepare_batch(
        tenant_id=tenant_id,
        provider=provider,
        rows=rows,
        run_id=run_id,
        batch_id=batch_id,
        checkpoints=checkpoints,
        topic=topic,
        dlq_topic=dlq_topic,
        max_future_days=max_future_days,
        publish=publish,
    )
    return await write_prepared(session, prepared)


async def _write_rows(
    cursor: AsyncCursor[Any], batch: PreparedBatch
) -> tuple[int, int, set[tuple[str, date]]]:
    """(new, changed, the (series, month) pairs written): rows with a new key go straight
    into the table, the others (or all, after a unique violation) through staging and the
    upsert."""
    now, stored = await _stored_keys(cursor, batch)
    fresh, known = batch.valid, list[ValidRow]()
    fresh_lines, fresh_parts = batch.lines, batch.parts
    if stored:
        fresh, fresh_pieces, known = [], [], []
        for row, piece in zip(batch.valid, batch.pieces, strict=True):
            if (row.series_id, row.obs_date) in stored:
                known.append(row)
            else:
                fresh.append(row)
                fresh_pieces.append(piece)
        fresh_lines = observation_lines(fresh, batch.prefix)
        fresh_parts = parts(fresh, fresh_pieces)
    new = changed = 0
    taken: dict[str, int] = {}
    touched: set[tuple[str, date]] = set()
    if fresh:
        copied = await _copy_new(cursor, batch, fresh_lines, fresh_parts, now)
        if copied is None:  # another writer stored one of these keys first: upsert them all
            known = batch.valid
        else:
            new, taken = len(fresh), copied
            touched = {(row.series_id, row.obs_date.replace(day=1)) for row in fresh}
    if known:
        lines = batch.lines if len(known) == len(batch.valid) else ""
        upserted_new, changed, upserted = await _upsert(
            cursor, lines or observation_lines(known, batch.prefix), batch, taken
        )
        new += upserted_new
        touched |= upserted
    return new, changed, touched


async def _stored_keys(
    cursor: AsyncCursor[Any], batch: PreparedBatch
) -> tuple[str, set[tuple[str, date]]]:
    """The transaction's now() (JSON), and the batch's keys that are stored."""
    await cursor.execute(
        statements.EXISTING_KEYS,
        {
            "tenant_id": batch.params["tenant_id"],
            "provider": batch.params["provider"],
            "series": batch.series,
            "first": batch.first,
            "last": batch.last,
        },
    )
    found = await cursor.fetchall()
    return found[0][0], {(s, day) for _, s, day in found if s is not None}


async def _copy_new(
    cursor: AsyncCursor[Any],
    batch: PreparedBatch,
    lines: str,
    messages: list[Part],
    now: str,
) -> dict[str, int] | None:
    """COPY rows with new keys and their messages under a savepoint; the parts each series'
    messages took, or None when a key turned out to be stored (the savepoint rolled back)."""
    params = batch.params
    envelope = Envelope(
        tenant_id=params["tenant_id"],
        provider=params["provider"],
        run_id=params["run_id"],
        batch_id=params["batch_id"],
        topic=params["topic"],
        ingested_at=now,
    )
    outbox, taken = outbox_lines(messages, envelope) if batch.publish else ("", {})
    await cursor.execute(statements.SAVEPOINT)
    try:
        async with cursor.copy(statements.COPY_OBSERVATIONS) as copy:
            await copy.write(lines)
        if batch.publish:
            async with cursor.copy(statements.COPY_OUTBOX) as copy:
                await copy.write(outbox)
    except UniqueViolation:
        await cursor.execute(statements.ROLLBACK_TO)
        log.info(
            "ingest: a key of %s batch %s was stored meanwhile; upserting the batch",
            params["provider"],
            params["batch_id"],
        )
        return None
    return taken


async def _upsert(
    cursor: AsyncCursor[Any], lines: str, batch: PreparedBatch, part_base: dict[str, int]
) -> tuple[int, int, set[tuple[str, date]]]:
    """(new, changed, the (series, month) pairs of those rows) upserted through staging;
    an unchanged row touches no month."""
    await cursor.execute(statements.CREATE_STAGING)
    async with cursor.copy(statements.COPY_STAGING) as copy:
        await copy.write(lines)
    await cursor.execute(statements.ANALYZE_STAGING)
    upsert = statements.UPSERT_WITH_OUTBOX if batch.publish else statements.UPSERT
    await cursor.execute(upsert, {**batch.params, "part_base": json.dumps(part_base)})
    counts = await cursor.fetchone()
    assert counts is not None
    months = {(series, date.fromisoformat(month)) for series, month in counts[2]}
    return int(counts[0]), int(counts[1]), months


async def _driver_connection(session: AsyncSession) -> AsyncConnection[Any]:
    """The psycopg connection under the session's (begun) transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, AsyncConnection):
        raise TypeError(f"ingest needs the psycopg async driver, not {type(driver).__name__}")
    return driver


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
