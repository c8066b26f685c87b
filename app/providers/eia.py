"""EIA Open Data v2 collector (../shared/providers/eia.md).

A series id names one EIA series and is all the collector needs to request it:

    <route>:<frequency>:<facet values, '/'-joined>[:<data column>]
    electricity/retail-sales:monthly:CO/RES:price      petroleum/pri/spt:daily:RWTC

Facet values are positional, in the order the route's metadata lists its facets (a token may
also name its facet, `stateid=CO`); an empty facet part means no facet filter. The column may
be left out only when the route has a single data column. The configuration's `route`,
`frequency`, `facets` and `column` fields describe the same thing for people; the id is what
is stored. Facet ids and the column, once resolved from route metadata, are kept in the
series' checkpoint cursor so later runs need no metadata call.

Change detection: v2 has no last-updated and no change feed, so each tracked series costs one
probe (`sort period desc, length=1`). A series is fetched when the probe's latest (period,
value) differs from the one stored in the cursor (a new period, or the newest value revised),
or when its trailing revision window is due: EIA revises in place, so every fetch re-reads
the series' revision window (app/providers/revisions.py: a number of periods of its frequency
before the checkpoint) and records `revised_at`; an otherwise unchanged series
is re-read at most once per REVISION_INTERVAL, and at once after a recovery (`ctx.revisit`).
`start` uses the frequency's exact period format because EIA compares it with the period as a
string (`2008-02` < `2008-02-01`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from app.ingest.rows import CheckpointUpdate, RawObservation
from app.providers.base import Batch, CollectContext, DatasetInfo, SeriesState, batched
from app.providers.body import json_body
from app.providers.revisions import Frequency, revision_start
from app.resilience.client import BodyVerdict

PROVIDER = "eia"
PAGE_LENGTH = 5000  # rows per JSON request, the API's maximum
REVISION_INTERVAL = timedelta(hours=24)
# The frequencies a series id may name (EIA's own ids for them).
FREQUENCIES = tuple(
    f.value
    for f in (
        Frequency.ANNUAL,
        Frequency.QUARTERLY,
        Frequency.MONTHLY,
        Frequency.WEEKLY,
        Frequency.DAILY,
    )
)
THROTTLE_CODES = {"OVER_RATE_LIMIT", "API_KEY_SUSPENDED"}


@dataclass(frozen=True)
class SeriesSpec:
    """A parsed series id; `facets` pairs are (facet id or None when positional, value)."""

    series_id: str
    route: str
    frequency: str
    facets: tuple[tuple[str | None, str], ...]
    column: str | None


@dataclass(frozen=True)
class Resolved:
    """What a data request needs: facet ids with their values, the column, route facts."""

    spec: SeriesSpec
    facets: dict[str, str]
    column: str
    units: str | None = None
    title: str | None = None


def parse_series_id(series_id: str) -> SeriesSpec:
    parts = series_id.split(":")
    if len(parts) not in (3, 4) or not parts[0] or parts[1] not in FREQUENCIES:
        raise ValueError(
            f"EIA series id {series_id!r}: expected <route>:<frequency>:<facets>[:<column>] "
            f"with frequency one of {', '.join(FREQUENCIES)}"
        )
    facets: list[tuple[str | None, str]] = []
    for token in parts[2].split("/") if parts[2] else []:
        name, sep, value = token.partition("=")
        facets.append((name, value) if sep else (None, token))
    column = parts[3] if len(parts) == 4 and parts[3] else None
    return SeriesSpec(series_id, parts[0].strip("/"), parts[1], tuple(facets), column)


def parse_period(label: str) -> date | None:
    """`2024`, `2024-Q1`, `2024-01`, `2024-01-05` → the period's first day."""
    text = str(label).strip()
    try:
        if len(text) == 4:
            return date(int(text), 1, 1)
        if len(text) == 7 and text[5] == "Q":
            quarter = int(text[6])
            return date(int(text[:4]), 3 * quarter - 2, 1) if 1 <= quarter <= 4 else None
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:]), 1)
        if len(text) == 10:
            return date.fromisoformat(text)
    except ValueError:
        return None
    return None


def format_period(frequency: str, day: date) -> str:
    """The period containing `day`, in EIA's format for `frequency` (for start/end)."""
    if frequency == "annual":
        return f"{day.year}"
    if frequency == "quarterly":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if frequency == "monthly":
        return f"{day.year}-{day.month:02d}"
    return day.isoformat()


def parse_value(raw: Any) -> float | None:
    """Values are strings (numbers in older captures); null and non-numeric codes → None."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return float(str(raw).strip())
    except ValueError:
        return None


def inspect(response: httpx.Response) -> BodyVerdict:
    """Errors come as `{"error": "text", "code": 400}` or `{"error": {"code", "message"}}`,
    before v2.1.10 sometimes with HTTP 200."""
    try:
        body = json_body(response)
    except ValueError:
        return BodyVerdict(error="body is not JSON")
    if not isinstance(body, dict):
        return BodyVerdict(error="body is not a JSON object")
    err = body.get("error")
    if err is None:
        return BodyVerdict()
    if isinstance(err, dict):
        code, message = str(err.get("code", "")), str(err.get("message", ""))
    else:
        code, message = str(body.get("code", "")), str(err)
    text = f"{code}: {message}" if code else message
    throttled = code in THROTTLE_CODES or "rate limit" in message.lower()
    return BodyVerdict(error=text or "error", throttled=throttled)


class EiaCollector:
    provider = PROVIDER

    def __init__(self, page_length: int = PAGE_LENGTH) -> None:
        self.page_length = page_length
        self._routes: dict[str, dict[str, Any]] = {}

    async def _get(self, ctx: CollectContext, path: str, params: list[tuple[str, Any]]) -> Any:
        url = ctx.base_url.rstrip("/") + "/" + path
        query = [("api_key", ctx.credential or ""), *params]
        response = await ctx.client.request(PROVIDER, "GET", url, params=query, inspect=inspect)
        body = json_body(response).get("response")
        if not isinstance(body, dict):
            raise ValueError(f"EIA {path}: no `response` object in the answer")
        return body

    async def probe(self, ctx: CollectContext) -> None:
        """The route tree's root: authenticated and small."""
        await self._get(ctx, "", [])

    async def _route(self, ctx: CollectContext, route: str) -> dict[str, Any]:
        if route not in self._routes:  # once per route and run
            self._routes[route] = await self._get(ctx, route, [])
        return self._routes[route]

    async def _resolve(
        self, ctx: CollectContext, spec: SeriesSpec, state: SeriesState | None
    ) -> Resolved:
        cursor = state.cursor if state else {}
        if isinstance(cursor.get("facets"), dict) and cursor.get("column"):
            return Resolved(
                spec,
                dict(cursor["facets"]),
                str(cursor["column"]),
                cursor.get("units"),
                cursor.get("title"),
            )
        named = all(name is not None for name, _ in spec.facets)
        if named and spec.column is not None:
            facets = {str(name): value for name, value in spec.facets}
            return Resolved(spec, facets, spec.column)
        meta = await self._route(ctx, spec.route)
        return _resolve_with(spec, meta)

    def _data_params(
        self, resolved: Resolved, *, descending: bool = False
    ) -> list[tuple[str, Any]]:
        params: list[tuple[str, Any]] = [
            ("frequency", resolved.spec.frequency),
            ("data[0]", resolved.column),
        ]
        params += [(f"facets[{k}][]", v) for k, v in resolved.facets.items()]
        params += [("sort[0][column]", "period")]
        params += [("sort[0][direction]", "desc" if descending else "asc")]
        return params

    async def catalog(self, ctx: CollectContext) -> list[DatasetInfo]:
        found = []
        for series_id in ctx.datasets:
            spec = parse_series_id(series_id)
            meta = await self._route(ctx, spec.route)
            found.append(_dataset(_resolve_with(spec, meta), meta))
        return found

    async def _probe(self, ctx: CollectContext, resolved: Resolved) -> dict[str, Any] | None:
        params = [*self._data_params(resolved, descending=True), ("length", 1)]
        body = await self._get(ctx, f"{resolved.spec.route}/data/", params)
        rows = body.get("data") or []
        return dict(rows[0]) if rows else None

    async def _changed(self, ctx: CollectContext, resolved: Resolved, state: SeriesState) -> bool:
        latest = await self._probe(ctx, resolved)
        cursor = state.cursor
        if latest is not None:
            period, value = str(latest.get("period")), latest.get(resolved.column)
            seen_value = cursor.get("latest_value")
            if period != cursor.get("latest_period") or _text(value) != seen_value:
                return True
        revised_at = _parse_iso(cursor.get("revised_at"))
        return revised_at is None or revised_at <= ctx.now - REVISION_INTERVAL

    async def collect(self, ctx: CollectContext) -> AsyncIterator[Batch]:
        for series_id in ctx.datasets:
            spec = parse_series_id(series_id)
            state = ctx.states.get(series_id)
            resolved = await self._resolve(ctx, spec, state)
            ctx.stats.series_checked += 1  # a window's series too: checked, and fetched
            if not ctx.backfill:
                due = (
                    ctx.revisit  # a recovery: re-read the window, changed or not
                    or state is None
                    or state.last_obs_date is None
                    or await self._changed(ctx, resolved, state)
                )
                if not due:
                    ctx.stats.skipped_unchanged += 1
                    continue
            async for batch in self._fetch_series(ctx, resolved, state):
                yield batch

    async def _fetch_series(
        self, ctx: CollectContext, resolved: Resolved, state: SeriesState | None
    ) -> AsyncIterator[Batch]:
        ctx.stats.series_fetched += 1
        spec = resolved.spec
        state = state or SeriesState(spec.series_id)
        params = self._data_params(resolved)
        if ctx.start is not None:
            params.append(("start", format_period(spec.frequency, ctx.start)))
        elif not ctx.backfill and state.last_obs_date is not None:
            start = revision_start(Frequency(spec.frequency), state.last_obs_date)
            params.append(("start", format_period(spec.frequency, start)))
        if ctx.end is not None:
            params.append(("end", format_period(spec.frequency, ctx.end)))
        rows: list[RawObservation] = []
        offset = 0
        while True:
            page_params = [*params, ("offset", offset), ("length", self.page_length)]
            body = await self._get(ctx, f"{spec.route}/data/", page_params)
            page = body.get("data") or []
            rows.extend(_row(resolved, item) for item in page)
            offset += len(page)
            if not page or offset >= int(body.get("total") or 0):
                break
        ctx.stats.rows_parsed += len(rows)
        checkpoint = _checkpoint(ctx, resolved, state, rows)
        entry = _entry(resolved, checkpoint.cursor.get("units"))
        chunks = batched(rows, ctx.batch_size)
        for index, chunk in enumerate(chunks):
            last_one = index == len(chunks) - 1
            yield Batch(
                rows=chunk,
                checkpoints=[checkpoint] if last_one else [],
                datasets=[entry] if last_one else [],
            )


def _resolve_with(spec: SeriesSpec, meta: dict[str, Any]) -> Resolved:
    """Facet ids by position from the route's `facets[]`, the column from its `data{}`."""
    ids = [str(f.get("id")) for f in meta.get("facets") or []]
    if len(spec.facets) > len(ids):
        raise ValueError(f"EIA {spec.series_id}: route {spec.route} has facets {ids}")
    facets = {name or ids[i]: value for i, (name, value) in enumerate(spec.facets)}
    columns = meta.get("data") or {}
    column = spec.column
    if column is None:
        if len(columns) != 1:
            raise ValueError(
                f"EIA {spec.series_id}: route {spec.route} has columns {sorted(columns)}; "
                "name one as the id's last part"
            )
        column = next(iter(columns))
    if column not in columns:
        raise ValueError(f"EIA {spec.series_id}: no data column {column!r} in {spec.route}")
    info = columns[column] if isinstance(columns[column], dict) else {}
    return Resolved(spec, facets, column, info.get("units"), meta.get("name"))


def _checkpoint(
    ctx: CollectContext, resolved: Resolved, state: SeriesState, rows: list[RawObservation]
) -> CheckpointUpdate:
    dated = [r for r in rows if r.obs_date is not None]
    newest = max(dated, key=lambda r: r.obs_date or date.min, default=None)
    cursor = {**state.cursor, "facets": resolved.facets, "column": resolved.column}
    if resolved.title:
        cursor["title"] = resolved.title  # the route's name, for the catalog of later runs
    last = state.last_obs_date
    if newest is not None and (last is None or (newest.obs_date or date.min) >= last):
        last = newest.obs_date
        cursor.update(
            latest_period=newest.period_label, latest_value=newest.raw_value, units=newest.units
        )
    if not ctx.backfill:
        cursor["revised_at"] = ctx.now.isoformat()  # the trailing window was just re-read
    return CheckpointUpdate(resolved.spec.series_id, last, None, cursor)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _parse_iso(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _row(resolved: Resolved, item: dict[str, Any]) -> RawObservation:
    column = resolved.column
    label = str(item.get("period", ""))
    raw = item.get(column)
    units = item.get(f"{column}-units") or item.get("units") or resolved.units
    skip = {"period", column, f"{column}-units", "units"}
    return RawObservation(
        series_id=resolved.spec.series_id,
        period_label=label,
        obs_date=parse_period(label),
        value=parse_value(raw),
        raw_value=_text(raw),
        units=None if units is None else str(units),
        metadata={k: v for k, v in item.items() if k not in skip},
    )


def _title(resolved: Resolved, name: Any) -> str:
    facets = ", ".join(f"{k}={v}" for k, v in resolved.facets.items())
    return f"{name or resolved.spec.route} ({facets}; {resolved.column})"


def _entry(resolved: Resolved, units: Any) -> DatasetInfo:
    """The catalog entry a collection knows without a metadata call: the route's name once
    resolved from its metadata (kept in the cursor), units from the route or the rows."""
    spec = resolved.spec
    return DatasetInfo(
        series_id=spec.series_id,
        title=_title(resolved, resolved.title),
        units=resolved.units or (None if units is None else str(units)),
        frequency=spec.frequency,
        attributes={"route": spec.route, "facets": resolved.facets, "column": resolved.column},
    )


def _dataset(resolved: Resolved, meta: dict[str, Any]) -> DatasetInfo:
    spec = resolved.spec
    same_frequency = meta.get("defaultFrequency") == spec.frequency
    return DatasetInfo(
        series_id=spec.series_id,
        title=_title(resolved, meta.get("name")),
        units=resolved.units,
        frequency=spec.frequency,
        # The route's range is for its default frequency, across all facet values.
        observation_start=parse_period(meta.get("startPeriod") or "") if same_frequency else None,
        observation_end=parse_period(meta.get("endPeriod") or "") if same_frequency else None,
        attributes={
            "route": spec.route,
            "facets": resolved.facets,
            "column": resolved.column,
            "description": meta.get("description"),
        },
    )
