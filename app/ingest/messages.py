"""Outbox messages for the rows the pipeline COPYs straight into the observations table.

They are the messages `statements.UPSERT_WITH_OUTBOX` builds in SQL for inserted rows, built
here instead: schema 2, one per series per batch with up to OBSERVATIONS_PER_MESSAGE of its
observations in date order (`part` 0, 1, ...), the same fields, and the same event id
(md5 of tenant|provider|series|batch|part as a UUID): the same content whichever path wrote
a row (the SQL path's JSON text is spaced differently; `payload` is json, kept as written).
Each observation's JSON is formatted, and joined into its message's array (`parts`), when
the batch is prepared, ahead of the writes; writing a message only adds the envelope, which
needs the transaction's now().
"""

from __future__ import annotations

import hashlib
import json
import operator
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from app.ingest.copy_text import field
from app.ingest.rows import ValidRow
from app.ingest.statements import OBSERVATIONS_PER_MESSAGE, SCHEMA_VERSION

# The C string encoder json.dumps uses: quotes, backslashes and control characters escaped,
# other characters as they are (PostgreSQL stores the text as UTF-8).
_STRING = json.encoder.encode_basestring


def _string(value: str | None) -> str:
    return "null" if value is None else _STRING(value)


def fragments(rows: Sequence[ValidRow]) -> list[str]:
    """Each row's observation object (change "new"), in the rows' order."""
    return [
        f'{{"change":"new","obs_date":"{r.obs_date.isoformat()}",'
        f'"period_label":{_STRING(r.period_label)},'
        f'"value":{"null" if r.value is None else repr(r.value)},'
        f'"raw_value":{_string(r.raw_value)},"units":{_string(r.units)},'
        f'"metadata":{r.metadata_json}}}'
        for r in rows
    ]


def event_id(tenant_id: str, provider: str, series_id: str, batch_id: str, part: int) -> str:
    """As the SQL path derives it: md5(concat_ws('|', ...))::uuid::text."""
    digest = hashlib.md5(  # noqa: S324 - an id derivation shared with SQL, not security
        f"{tenant_id}|{provider}|{series_id}|{batch_id}|{part}".encode()
    ).hexdigest()
    return str(uuid.UUID(digest))


@dataclass(frozen=True)
class Envelope:
    """What every message of one batch shares; `ingested_at` is JSON (the transaction's
    now(), rendered by PostgreSQL as the SQL path renders it)."""

    tenant_id: str
    provider: str
    run_id: str
    batch_id: str
    topic: str
    ingested_at: str


@dataclass(frozen=True, slots=True)
class Part:
    """One message's observations: `observations` is their JSON array, already escaped for
    COPY, so writing the message only wraps the batch's envelope around it."""

    series_id: str
    number: int
    observations: str


def parts(rows: Sequence[ValidRow], pieces: Sequence[str]) -> list[Part]:
    """The messages `rows` make (their observation objects are `pieces`): per series in
    series order, OBSERVATIONS_PER_MESSAGE at a time in date order."""
    by_series: dict[str, list[tuple[ValidRow, str]]] = {}
    for row, piece in zip(rows, pieces, strict=True):
        by_series.setdefault(row.series_id, []).append((row, piece))
    out: list[Part] = []
    for series_id in sorted(by_series):
        entries = by_series[series_id]
        dates = [row.obs_date for row, _ in entries]
        if any(map(operator.gt, dates, dates[1:])):  # collectors mostly send date order
            entries.sort(key=lambda entry: entry[0].obs_date)
        for number, start in enumerate(range(0, len(entries), OBSERVATIONS_PER_MESSAGE)):
            chunk = entries[start : start + OBSERVATIONS_PER_MESSAGE]
            out.append(Part(series_id, number, field(f"[{','.join(p for _, p in chunk)}]")))
    return out


def outbox_lines(messages: Sequence[Part], envelope: Envelope) -> tuple[str, dict[str, int]]:
    """COPY lines (topic, key, payload, headers) of the messages, and how many parts each
    series took."""
    topic = field(envelope.topic)
    lines: list[str] = []
    taken: dict[str, int] = {}
    for part in messages:
        event = event_id(
            envelope.tenant_id, envelope.provider, part.series_id, envelope.batch_id, part.number
        )
        head = (
            f'{{"schema_version":{SCHEMA_VERSION},"event_id":"{event}",'
            f'"tenant_id":{_STRING(envelope.tenant_id)},"provider":{_STRING(envelope.provider)},'
            f'"series_id":{_STRING(part.series_id)},"part":{part.number},'
            f'"run_id":"{envelope.run_id}","batch_id":"{envelope.batch_id}",'
            f'"ingested_at":{envelope.ingested_at},"observations":'
        )
        headers = f'{{"schema_version":"{SCHEMA_VERSION}","event_id":"{event}"}}'
        lines.append(
            f"{topic}\t{field(part.series_id)}\t{field(head)}{part.observations}}}\t"
            f"{field(headers)}\n"
        )
        taken[part.series_id] = part.number + 1
    return "".join(lines), taken
