"""FRED collector (../shared/providers/fred.md).

Change detection before data: `series/updates` lists series updated in the last two weeks,
newest first, 1,000 a page; a tracked series absent from it costs no request. A series never
seen, or last checked before the feed's window, is checked with one `series` call. Changed
series are re-fetched from the start of their revision window (app/providers/revisions.py: a
number of the series' own periods before the checkpoint), because FRED revises values in
place. Values are strings, `"."` is missing; errors can arrive with a wrong content type.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from app.ingest.allocation import collector_paused
from app.ingest.rows import CheckpointUpdate, RawObservation
from app.providers.base import Batch, CollectContext, DatasetInfo, SeriesState, batched
from app.providers.body import json_body, looks_like_markup
from app.providers.revisions import parse_frequency, revision_start
from app.resilience.client import BodyVerdict

PROVIDER = "fred"
PAGE_LIMIT = 100_000  # observations per request, the API's maximum
UPDATES_LIMIT = 1000
FEED_WINDOW = timedelta(days=14)  # series/updates only covers the last two weeks
# A checkpoint row of its own records when the feed was last read in full; while that is
# within the window, a series absent from the feed since then is known to be unchanged.
FEED_MARKER = "__series_updates__"
FEED_OVERLAP = timedelta(hours=1)  # FRED stamps are US Central and minute-grained
PARSE_SLICE = 10_000  # rows built per worker-thread call
_ABSENT = object()
_OFFSET_HOURS = re.compile(r"([+-]\d{2})$")


def inspect(response: httpx.Response) -> BodyVerdict:
    """FRED errors are `{"error_code", "error_message"}`, sometimes labelled text/xml; a body
    that is XML means `file_type=json` was lost."""
    if looks_like_markup(response):
        return BodyVerdict(error="XML answer (file_type=json missing?)")
    try:
        body = json_body(response)
    except ValueError:
        return BodyVerdict(error="body is not JSON")
    if isinstance(body, dict) and "error_code" in body:
        message = str(body.get("error_message", ""))
        return BodyVerdict(error=message, throttled=body.get("error_code") == 429)
    return BodyVerdict()


def parse_last_updated(text: str | None) -> datetime | None:
    """`2013-07-31 09:26:16-05` (US Central, offset without minutes) → aware datetime."""
    if not text:
        return None
    text = _OFFSET_HOURS.sub(r"\g<1>00", text.strip())
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S%z")
    except ValueError:
        return None


def parse_value(raw: Any) -> float | None:
    if raw is None:
        return None
    text = str(raw).strip()
    if text in {"", "."}:
        return None
    try:
        return float(text)
    except ValueError:
        return None


class FredCollector:
    provider = PROVIDER

    async def _get(self, ctx: CollectContext, path: str, **params: Any) -> dict[str, Any]:
        params = {**params, "file_type": "json", "api_key": ctx.credential or ""}
        response = await ctx.client.request(
            PROVIDER, "GET", ctx.base_url.rstrip("/") + "/" + path, params=params, inspect=inspect
        )
        body = json_body(response)
        if not isinstance(body, dict):
            raise ValueError(f"FRED {path}: expected a JSON object")
        return body

    async def probe(self, ctx: CollectContext) -> None:
        """One series' metadata: the cheapest authenticated call."""
        await self._get(ctx, "series", series_id=ctx.datasets[0] if ctx.datasets else "GDP")

    async def _series_meta(self, ctx: CollectContext, series_id: str) -> dict[str, Any]:
        body = await self._get(ctx, "series", series_id=series_id)
        items = body.get("seriess") or []
        if not items:
            raise ValueError(f"FRED series {series_id}: no metadata returned")
        return dict(items[0])

    async def catalog(self, ctx: CollectContext) -> list[DatasetInfo]:
        found = []
        for series_id in ctx.datasets:
            meta = await self._series_meta(ctx, series_id)
            found.append(_dataset(meta))
        return found

    async def _recent_updates(self, ctx: CollectContext, since: datetime) -> dict[str, dict]:
        """Series updated since `since` per the feed (newest first; stop once older)."""
        updates: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            body = await self._get(ctx, "series/updates", limit=UPDATES_LIMIT, offset=offset)
            items = body.get("seriess") or []
            for item in items:
                updated = parse_last_updated(item.get("last_updated"))
                if updated is not None and updated > since:
                    updates.setdefault(item["id"], item)
            oldest = parse_last_updated(items[-1].get("last_updated")) if items else None
            offset += len(items)
            if not items or offset >= int(body.get("count", 0)) or (oldest and oldest <= since):
                return updates

    async def _to_fetch(self, ctx: CollectContext) -> list[tuple[str, dict[str, Any]]]:
        """(series id, metadata) of every series whose data must be fetched this run."""
        if ctx.backfill:  # a window: every series is checked, and fetched
            ctx.stats.series_checked += len(ctx.datasets)
            return [(s, await self._series_meta(ctx, s)) for s in ctx.datasets]
        marker = ctx.states.get(FEED_MARKER)
        read_at = _parse_iso(marker.cursor.get("read_at")) if marker else None
        feed_covers = read_at is not None and read_at > ctx.now - FEED_WINDOW
        feed: dict[str, dict[str, Any]] = {}
        if feed_covers and read_at is not None:
            feed = await self._recent_updates(ctx, read_at - FEED_OVERLAP)
        chosen = []
        for series_id in ctx.datasets:
            ctx.stats.series_checked += 1
            state = ctx.states.get(series_id)
            seen = state.provider_last_updated if state else None
            if seen is not None and feed_covers and not ctx.revisit:
                if series_id in feed and _newer(feed[series_id], seen):
                    chosen.append((series_id, feed[series_id]))
                else:
                    ctx.stats.skipped_unchanged += 1
                continue
            meta = await self._series_meta(ctx, series_id)  # new, or the feed cannot tell
            updated = parse_last_updated(meta.get("last_updated"))
            unchanged = seen is not None and updated is not None and updated <= seen
            if unchanged and not ctx.revisit:  # after a recovery: re-read the trailing window
                ctx.stats.skipped_unchanged += 1
                continue
            chosen.append((series_id, meta))
        return chosen

    async def collect(self, ctx: CollectContext) -> AsyncIterator[Batch]:
        read_at = ctx.now
        for series_id, meta in await self._to_fetch(ctx):
            async for batch in self._fetch_series(ctx, series_id, meta):
                yield batch
        if not ctx.backfill:
            # Last, in its own transaction: only a run that stored every change moves it.
            marker = CheckpointUpdate(FEED_MARKER, None, None, {"read_at": read_at.isoformat()})
            yield Batch(rows=[], checkpoints=[marker])

    async def _fetch_series(
        self, ctx: CollectContext, series_id: str, meta: dict[str, Any]
    ) -> AsyncIterator[Batch]:
        ctx.stats.series_fetched += 1
        state = ctx.states.get(series_id, SeriesState(series_id))
        # The feed's or the series' metadata names the frequency; the cursor keeps it.
        frequency = parse_frequency(
            meta.get("frequency_short") or meta.get("frequency") or state.cursor.get("frequency")
        )
        params: dict[str, Any] = {"series_id": series_id, "sort_order": "asc", "limit": PAGE_LIMIT}
        if ctx.start is not None:
            params["observation_start"] = ctx.start.isoformat()
        elif state.last_obs_date is not None:
            since = revision_start(frequency, state.last_obs_date)
            params["observation_start"] = since.isoformat()
        if ctx.end is not None:
            params["observation_end"] = ctx.end.isoformat()
        units = meta.get("units_short") or meta.get("units")
        rows: list[RawObservation] = []
        offset = 0
        while True:
            body = await self._get(ctx, "series/observations", offset=offset, **params)
            page = body.get("observations") or []
            # A page is up to 100,000 rows: built in a worker thread, a slice at a time, so
            # the event loop keeps serving the writes meanwhile (app/jobs/collect.py).
            for start in range(0, len(page), PARSE_SLICE):
                chunk = page[start : start + PARSE_SLICE]
                rows.extend(await asyncio.to_thread(_rows_paused, series_id, chunk, units))
            offset += len(page)
            if not page or offset >= int(body.get("count", 0)):
                break
        ctx.stats.rows_parsed += len(rows)
        last = max((r.obs_date for r in rows if r.obs_date), default=state.last_obs_date)
        if ctx.backfill and state.last_obs_date is not None and last is not None:
            last = max(last, state.last_obs_date)  # a backfill never rewinds the checkpoint
        checkpoint = CheckpointUpdate(
            series_id=series_id,
            last_obs_date=last,
            provider_last_updated=parse_last_updated(meta.get("last_updated"))
            or state.provider_last_updated,
            cursor={"units": units, "frequency": frequency.value if frequency else None},
        )
        entry = _dataset({**meta, "id": series_id})  # the series or feed metadata in hand
        chunks = batched(rows, ctx.batch_size)
        for index, chunk in enumerate(chunks):
            last_one = index == len(chunks) - 1
            yield Batch(
                rows=chunk,
                checkpoints=[checkpoint] if last_one else [],
                datasets=[entry] if last_one else [],
            )


def _parse_iso(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _newer(meta: dict[str, Any], seen: datetime) -> bool:
    updated = parse_last_updated(meta.get("last_updated"))
    return updated is None or updated > seen


def _rows(series_id: str, items: list[Any], units: str | None) -> list[RawObservation]:
    """`_row` of each item. The common item (a text date and a text value) is built inline,
    and rows with the same realtime window share one metadata dict; any other item goes
    through `_row`, so the rows are the same either way."""
    windows: dict[tuple[Any, Any], dict[str, Any]] = {}
    rows: list[RawObservation] = []
    append = rows.append
    for item in items:
        day = item.get("date") if type(item) is dict else None
        raw = item.get("value") if type(item) is dict else None
        if type(day) is not str or type(raw) is not str:
            append(_row(series_id, item, units))
            continue
        try:
            obs_date = date.fromisoformat(day)
            value = None if raw == "." else float(raw)
            window = (item.get("realtime_start", _ABSENT), item.get("realtime_end", _ABSENT))
            metadata = windows.get(window)
        except (ValueError, TypeError):  # not a date, not a number, an unhashable window
            append(_row(series_id, item, units))
            continue
        if metadata is None:
            metadata = windows[window] = _window(item)
        append(RawObservation(series_id, day, obs_date, value, raw, units, metadata))
    return rows


def _rows_paused(series_id: str, items: list[Any], units: str | None) -> list[RawObservation]:
    with collector_paused():  # acyclic rows: app/ingest/allocation.py
        return _rows(series_id, items, units)


def _window(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in ("realtime_start", "realtime_end") if k in item}


def _row(series_id: str, item: dict[str, Any], units: str | None) -> RawObservation:
    raw = item.get("value")
    try:
        obs_date: date | None = date.fromisoformat(str(item.get("date")))
    except ValueError:
        obs_date = None
    return RawObservation(
        series_id=series_id,
        period_label=str(item.get("date", "")),
        obs_date=obs_date,
        value=parse_value(raw),
        raw_value=None if raw is None else str(raw),
        units=units,
        metadata=_window(item),
    )


def _dataset(meta: dict[str, Any]) -> DatasetInfo:
    def day(value: Any) -> date | None:
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return None

    return DatasetInfo(
        series_id=str(meta["id"]),
        title=str(meta.get("title", "")),
        units=meta.get("units"),
        frequency=meta.get("frequency"),
        seasonal_adjustment=meta.get("seasonal_adjustment"),
        provider_last_updated=parse_last_updated(meta.get("last_updated")),
        observation_start=day(meta.get("observation_start")),
        observation_end=day(meta.get("observation_end")),
        attributes={k: meta[k] for k in ("popularity", "notes") if k in meta},
    )
