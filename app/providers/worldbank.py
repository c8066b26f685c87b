"""World Bank Indicators v2 collector (../shared/providers/worldbank.md).

Series ids are `indicator:ISO3` (`NY.GDP.MKTP.CD:USA`). Change detection before data: each
database (source) publishes one `lastupdated` date, so a run asks `/source/{id}` once per source
of the tracked series and skips every indicator of a source that has not moved. An indicator
whose source moved is re-fetched over its revision window (WDI revises past values in place and
has no vintages; app/providers/revisions.py: 15 years of an annual indicator, 2 years of a
monthly or quarterly one, counted from its checkpoint and widened to whole years, the unit of
the `date` parameter), one request per indicator for all its countries at once, then split by
country. An indicator never stored is fetched in full without a source check: the data header
names its source and `lastupdated`, which go into the checkpoint cursor for the next run.

Bodies are `[header, rows]` (rows newest first, `null` when empty; header numbers may be
strings); errors are `[{"message": [...]}]`, usually with HTTP 200; code 105 means overload.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx

from app.ingest.rows import CheckpointUpdate, RawObservation
from app.providers.base import Batch, CollectContext, DatasetInfo, SeriesState, batched
from app.providers.body import json_body, looks_like_markup
from app.providers.revisions import Frequency, revision_start
from app.resilience.client import BodyVerdict

PROVIDER = "worldbank"
PER_PAGE = 1000
THROTTLE_CODE = "105"  # "Service currently unavailable": overload, slow down
_PERIOD = re.compile(r"^(\d{4})(?:([QM])(\d{1,2}))?$")
_TAG = re.compile(r"<[^>]+>")
_UNIT_IN_NAME = re.compile(r"\(([^()]*)\)\s*$")


def inspect(response: httpx.Response) -> BodyVerdict:
    """Errors hide in a 200 body as a message envelope; an HTML page or XML (format=json lost)
    is an error too."""
    if looks_like_markup(response):
        return BodyVerdict(error="HTML/XML answer instead of JSON")
    try:
        body = json_body(response)
    except ValueError:
        return BodyVerdict(error="body is not JSON")
    message = _message(body)
    if message is not None:
        code, text = message
        return BodyVerdict(error=f"code {code}: {text}", throttled=code == THROTTLE_CODE)
    if not (isinstance(body, list) and len(body) >= 2 and isinstance(body[0], dict)):
        return BodyVerdict(error="expected a [header, rows] array")
    return BodyVerdict()


def _message(body: Any) -> tuple[str, str] | None:
    if not (isinstance(body, list) and body and isinstance(body[0], dict)):
        return None
    messages = body[0].get("message")
    if not messages:
        return None
    first = messages[0] if isinstance(messages, list) and messages else {}
    if not isinstance(first, dict):
        return "", str(first)
    text = " - ".join(str(first[k]) for k in ("key", "value") if first.get(k))
    return str(first.get("id", "")), text


def parse_period(label: Any) -> date | None:
    """`2023` → 2023-01-01, `2023Q2` → 2023-04-01 (quarter start), `2023M07` → 2023-07-01."""
    match = _PERIOD.match(str(label or "").strip().upper())
    if match is None:
        return None
    year, kind, number = int(match.group(1)), match.group(2), match.group(3)
    if kind is None:
        return date(year, 1, 1)
    n = int(number)
    if kind == "Q":
        return date(year, 3 * n - 2, 1) if 1 <= n <= 4 else None
    return date(year, n, 1) if 1 <= n <= 12 else None


def period_frequency(label: Any) -> Frequency | None:
    """`2023` → annual, `2023Q2` → quarterly, `2023M07` → monthly; None when unreadable."""
    match = _PERIOD.match(str(label or "").strip().upper())
    if match is None:
        return None
    kind = match.group(2)
    if kind is None:
        return Frequency.ANNUAL
    return Frequency.QUARTERLY if kind == "Q" else Frequency.MONTHLY


def parse_day(text: Any) -> datetime | None:
    """Source `lastupdated` is a plain date; stored as midnight UTC."""
    try:
        day = date.fromisoformat(str(text).strip()[:10])
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_value(raw: Any) -> float | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def split_series_id(series_id: str) -> tuple[str, str]:
    """`NY.GDP.MKTP.CD:USA` → (indicator, country code)."""
    indicator, sep, country = series_id.rpartition(":")
    if not sep or not indicator or not country:
        raise ValueError(f"World Bank series id {series_id!r}: expected 'indicator:ISO3'")
    return indicator, country.upper()


@dataclass
class _Indicator:
    """One indicator and the tracked series (one per country) it serves."""

    id: str
    series: dict[str, str] = field(default_factory=dict)  # country code → series id
    source: str | None = None


def _group(datasets: list[str]) -> list[_Indicator]:
    groups: dict[str, _Indicator] = {}
    for series_id in datasets:
        indicator, country = split_series_id(series_id)
        groups.setdefault(indicator, _Indicator(indicator)).series[country] = series_id
    return list(groups.values())


class WorldBankCollector:
    provider = PROVIDER

    async def _get(self, ctx: CollectContext, path: str, **params: Any) -> list[Any]:
        response = await ctx.client.request(
            PROVIDER,
            "GET",
            ctx.base_url.rstrip("/") + "/" + path,
            params={**params, "format": "json"},
            inspect=inspect,
        )
        body = json_body(response)
        if not isinstance(body, list) or len(body) < 2 or not isinstance(body[0], dict):
            raise ValueError(f"World Bank {path}: expected a [header, rows] array")
        return body

    async def probe(self, ctx: CollectContext) -> None:
        """The sources list, one per page."""
        await self._get(ctx, "source", per_page=1)

    async def _source_updated(self, ctx: CollectContext, source: str) -> datetime | None:
        body = await self._get(ctx, f"source/{source}")
        items = body[1] or []
        return parse_day(items[0].get("lastupdated")) if items else None

    async def catalog(self, ctx: CollectContext) -> list[DatasetInfo]:
        found: list[DatasetInfo] = []
        updated: dict[str, datetime | None] = {}
        for group in _group(ctx.datasets):
            body = await self._get(ctx, f"indicator/{group.id}")
            items = body[1] or []
            if not items:
                raise ValueError(f"World Bank indicator {group.id}: no metadata returned")
            meta = dict(items[0])
            source = str((meta.get("source") or {}).get("id") or "")
            if source and source not in updated:
                updated[source] = await self._source_updated(ctx, source)
            found.extend(
                _dataset(series_id, country, meta, updated.get(source))
                for country, series_id in group.series.items()
            )
        return found

    async def _to_fetch(
        self, ctx: CollectContext
    ) -> list[tuple[_Indicator, tuple[int, int] | None]]:
        """(indicator, year window or None for full history) for every indicator to fetch."""
        groups = _group(ctx.datasets)
        for group in groups:
            cursors = [ctx.states[s].cursor for s in group.series.values() if s in ctx.states]
            sources = {str(c["source"]) for c in cursors if c.get("source")}
            group.source = next(iter(sources)) if len(sources) == 1 else None
        if ctx.backfill:
            lo = ctx.start.year if ctx.start else 1900
            hi = ctx.end.year if ctx.end else ctx.now.year
            ctx.stats.series_checked += sum(len(g.series) for g in groups)  # all fetched
            return [(g, (lo, hi)) for g in groups]
        chosen: list[tuple[_Indicator, tuple[int, int] | None]] = []
        by_source: dict[str, list[_Indicator]] = {}
        for group in groups:
            states = [ctx.states.get(s) for s in group.series.values()]
            known = all(s is not None and s.provider_last_updated for s in states)
            if known and group.source is not None:
                by_source.setdefault(group.source, []).append(group)
            else:
                ctx.stats.series_checked += len(group.series)
                chosen.append((group, None))  # new here: its whole history
        for source, members in by_source.items():
            updated = await self._source_updated(ctx, source)
            for group in members:
                ctx.stats.series_checked += len(group.series)
                seen = min(
                    ctx.states[s].provider_last_updated or datetime.min.replace(tzinfo=UTC)
                    for s in group.series.values()
                )
                if updated is not None and updated <= seen and not ctx.revisit:
                    ctx.stats.skipped_unchanged += len(group.series)
                else:
                    chosen.append((group, _revision_years(ctx, group)))
        return chosen

    async def collect(self, ctx: CollectContext) -> AsyncIterator[Batch]:
        for group, window in await self._to_fetch(ctx):
            async for batch in self._fetch_indicator(ctx, group, window):
                yield batch

    async def _fetch_indicator(
        self, ctx: CollectContext, group: _Indicator, window: tuple[int, int] | None
    ) -> AsyncIterator[Batch]:
        ctx.stats.series_fetched += len(group.series)
        countries = list(group.series)
        params: dict[str, Any] = {"per_page": PER_PAGE}
        if group.source is not None:
            params["source"] = group.source
        if window is not None:
            params["date"] = f"{window[0]}:{window[1]}"
        path = f"country/{';'.join(countries)}/indicator/{group.id}"
        items: list[dict[str, Any]] = []
        header: dict[str, Any] = {}
        page = 1
        while True:
            body = await self._get(ctx, path, page=page, **params)
            header = header or body[0]  # page 1's stamp: a move mid-fetch is caught next run
            items.extend(item for item in (body[1] or []) if isinstance(item, dict))
            if not body[1] or page >= _int(body[0].get("pages")):
                break
            page += 1
        source = str(header.get("sourceid") or group.source or "") or None
        stamp = parse_day(header.get("lastupdated"))
        split = split_rows(items, countries)
        for country, series_id in group.series.items():
            mine = split.get(country, [])
            rows = [_row(series_id, item) for item in mine]
            rows.sort(key=lambda r: (r.obs_date or date.min, r.period_label))
            rows = [r for r in rows if _in_window(ctx, r)]
            ctx.stats.rows_parsed += len(rows)
            checkpoint = _checkpoint(ctx, series_id, rows, source, stamp)
            entry = _entry(series_id, country, mine, rows, checkpoint, source)
            chunks = batched(rows, ctx.batch_size)
            for index, chunk in enumerate(chunks):
                last = index == len(chunks) - 1
                yield Batch(
                    rows=chunk,
                    checkpoints=[checkpoint] if last else [],
                    datasets=[entry] if last else [],
                )


def _revision_years(ctx: CollectContext, group: _Indicator) -> tuple[int, int]:
    """The years covering every series' revision window, from the oldest checkpoint of the
    indicator's countries (its frequency read from the stored period labels)."""
    states = [ctx.states[s] for s in group.series.values() if s in ctx.states]
    labels = [s.cursor.get("last_label") for s in states]
    frequency = next((f for f in map(period_frequency, labels) if f is not None), None)
    lasts = [s.last_obs_date for s in states if s.last_obs_date is not None]
    start = revision_start(frequency, min(lasts, default=ctx.now.date()))
    return (min(start.year, ctx.now.year), ctx.now.year)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def split_rows(items: list[dict[str, Any]], countries: list[str]) -> dict[str, list[dict]]:
    """Rows per requested code. Aggregates may have an empty `countryiso3code`: then the 2-letter
    `country.id` if that was requested, else the only requested code; otherwise dropped."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        iso3 = str(item.get("countryiso3code") or "").upper()
        iso2 = str((item.get("country") or {}).get("id") or "").upper()
        if iso3 in countries:
            code = iso3
        elif iso2 in countries:
            code = iso2
        elif not iso3 and len(countries) == 1:
            code = countries[0]
        else:
            continue
        out.setdefault(code, []).append(item)
    return out


def _in_window(ctx: CollectContext, row: RawObservation) -> bool:
    if row.obs_date is None:
        return True  # kept, so the row checks dead-letter it visibly
    if ctx.start is not None and row.obs_date < ctx.start:
        return False
    return ctx.end is None or row.obs_date <= ctx.end


def _checkpoint(
    ctx: CollectContext,
    series_id: str,
    rows: list[RawObservation],
    source: str | None,
    stamp: datetime | None,
) -> CheckpointUpdate:
    state = ctx.states.get(series_id, SeriesState(series_id))
    with_value = [r for r in rows if r.obs_date is not None and r.value is not None]
    latest = max(with_value, key=lambda r: r.obs_date or date.min, default=None)
    last = latest.obs_date if latest else state.last_obs_date
    if ctx.backfill and state.last_obs_date is not None and last is not None:
        last = max(last, state.last_obs_date)  # a backfill never rewinds the checkpoint
    if ctx.backfill:
        # A window says nothing about revisions outside it: keep the change marker.
        stamp = state.provider_last_updated
    cursor = {**state.cursor, "source": source}
    if latest is not None and (not ctx.backfill or last == latest.obs_date):
        cursor["last_label"] = latest.period_label
    if stamp is not None:
        cursor["source_lastupdated"] = stamp.date().isoformat()
    return CheckpointUpdate(series_id, last, stamp, cursor)


def _row(series_id: str, item: dict[str, Any]) -> RawObservation:
    raw = item.get("value")
    label = str(item.get("date", ""))
    unit = item.get("unit") or None
    return RawObservation(
        series_id=series_id,
        period_label=label,
        obs_date=parse_period(label),
        value=parse_value(raw),
        raw_value=None if raw is None else str(raw),
        units=unit,
        metadata={k: item[k] for k in ("obs_status", "decimal") if item.get(k) not in (None, "")},
    )


def strip_html(text: Any) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", str(text or ""))).split())


def _unit(name: str, unit: Any) -> str | None:
    text = str(unit or "").strip()
    if not text:
        match = _UNIT_IN_NAME.search(name)  # "GDP (current US$)": the unit is in the name
        text = match.group(1).strip() if match else ""
    return text or None


def _frequency(label: str) -> str | None:
    """`2023` annual, `2023Q2` quarterly, `2023M07` monthly."""
    match = _PERIOD.match(label.strip().upper())
    if match is None:
        return None
    return {None: "annual", "Q": "quarterly", "M": "monthly"}[match.group(2)]


def _entry(
    series_id: str,
    country: str,
    items: list[dict[str, Any]],
    rows: list[RawObservation],
    checkpoint: CheckpointUpdate,
    source: str | None,
) -> DatasetInfo:
    """The catalog entry the data rows tell: each carries its indicator's id and name."""
    indicator: dict[str, Any] = next(
        (i["indicator"] for i in items if isinstance(i.get("indicator"), dict)), {}
    )
    name = str(indicator.get("value") or indicator.get("id") or split_series_id(series_id)[0])
    return DatasetInfo(
        series_id=series_id,
        title=f"{name} ({country})",
        units=_unit(name, next((r.units for r in rows if r.units), None)),
        frequency=_frequency(rows[-1].period_label) if rows else None,
        provider_last_updated=checkpoint.provider_last_updated,
        attributes={"indicator": indicator.get("id"), "country": country, "source_id": source},
    )


def _dataset(
    series_id: str, country: str, meta: dict[str, Any], updated: datetime | None
) -> DatasetInfo:
    name = str(meta.get("name") or meta.get("id") or series_id)
    unit = _unit(name, meta.get("unit")) or ""
    source = meta.get("source") or {}
    return DatasetInfo(
        series_id=series_id,
        title=f"{name} ({country})",
        units=unit or None,
        provider_last_updated=updated,
        attributes={
            "indicator": meta.get("id"),
            "country": country,
            "source_id": source.get("id"),
            "source": source.get("value"),
            "source_note": strip_html(meta.get("sourceNote")),
            "source_organization": strip_html(meta.get("sourceOrganization")),
            "topics": [t.get("value") for t in meta.get("topics") or [] if isinstance(t, dict)],
        },
    )
