"""NOAA NCEI CDO v2 collector, dataset GHCND (../shared/providers/noaa.md).

Series ids are `station:datatype` (`GHCND:USW00014895:TMAX`). Change detection costs one
`/stations/{id}` call per station, shared by its datatypes: a series whose checkpoint holds the
station's current `maxdate`, and whose trailing window was re-read recently, costs nothing
more. Otherwise the station's chosen datatypes are fetched together (`datatypeid` repeated)
from the start of their revision window (app/providers/revisions.py: GHCN-Daily is daily, so
a number of days before the checkpoint), because GHCN-Daily revises values in place
without always moving `maxdate`. Requests span less than a year (the API rejects a year or
more), page 1-based with `limit=1000`, and always ask for `units=metric`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from app.ingest.rows import CheckpointUpdate, RawObservation
from app.providers.base import Batch, CollectContext, DatasetInfo, SeriesState, batched
from app.providers.body import json_body, looks_like_markup
from app.providers.revisions import Frequency, revision_start
from app.resilience.client import BodyVerdict

PROVIDER = "noaa"
DATASET = "GHCND"
UNIT_SYSTEM = "metric"  # without `units` GHCND answers raw tenths; always ask, and record it
PAGE_LIMIT = 1000  # the API's maximum; its default of 25 would silently truncate
# Inclusive span of one request: end - start = 363 days is below a year under any reading.
MAX_SPAN = timedelta(days=363)
# An unchanged maxdate does not prove the trailing window is unchanged; re-read it this often.
REVISIT_EVERY = timedelta(days=7)
THROTTLE_TEXT = "temporary request limit"
UNITS = {
    "TMAX": "degC",
    "TMIN": "degC",
    "TAVG": "degC",
    "TOBS": "degC",
    "PRCP": "mm",
    "SNOW": "mm",
    "SNWD": "mm",
    "EVAP": "mm",
    "AWND": "m/s",
}


def inspect(response: httpx.Response) -> BodyVerdict:
    """NOAA errors are `{"status", "message"}`, whatever the HTTP status; during outages an
    HTML page can come with 200."""
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type or looks_like_markup(response):
        return BodyVerdict(error="HTML answer instead of JSON (maintenance or outage page?)")
    try:
        body = json_body(response)
    except ValueError:
        return BodyVerdict(error="body is not JSON")
    if isinstance(body, dict) and "message" in body and "status" in body:
        message = str(body.get("message") or "error without a message")
        return BodyVerdict(error=message, throttled=THROTTLE_TEXT in message.lower())
    return BodyVerdict()


def split_series(series_id: str) -> tuple[str, str]:
    """`GHCND:USW00014895:TMAX` → (`GHCND:USW00014895`, `TMAX`)."""
    station, sep, datatype = series_id.rpartition(":")
    if not sep or not station or not datatype:
        raise ValueError(f"NOAA series id {series_id!r} is not station:datatype")
    return station, datatype


def chunks(start: date, end: date) -> Iterator[tuple[date, date]]:
    """Inclusive ranges covering start..end, each shorter than a year."""
    while start <= end:
        last = min(start + MAX_SPAN, end)
        yield start, last
        start = last + timedelta(days=1)


def parse_day(value: Any) -> date | None:
    """`2024-01-01T00:00:00` or `2024-01-01` → the calendar day (the station's local day)."""
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def parse_attributes(raw: Any) -> dict[str, str]:
    """GHCND `MFLAG,QFLAG,SFLAG,OBSTIME`; blank flags are left out."""
    if not isinstance(raw, str):
        return {}
    names = ("mflag", "qflag", "sflag", "obstime")
    return {name: part.strip() for name, part in zip(names, raw.split(","), strict=False) if part}


def _midnight(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None


@dataclass(frozen=True)
class _Plan:
    """One station's data fetch: which series, which days, and whether it reaches maxdate."""

    station: str
    series: dict[str, str]  # datatype → series id
    start: date
    end: date
    maxdate: date | None
    moves_maxdate: bool


class NoaaCollector:
    provider = PROVIDER

    async def _get(self, ctx: CollectContext, path: str, params: list[tuple[str, Any]]) -> Any:
        # Built by hand so ids keep their literal ':' (some report trouble with %3A).
        query = urlencode([(k, str(v)) for k, v in params], safe=":", quote_via=quote)
        url = ctx.base_url.rstrip("/") + "/" + path + ("?" + query if query else "")
        response = await ctx.client.request(
            PROVIDER, "GET", url, headers={"token": ctx.credential or ""}, inspect=inspect
        )
        return json_body(response)

    async def probe(self, ctx: CollectContext) -> None:
        """One dataset entry: authenticated and tiny."""
        await self._get(ctx, "datasets", [("limit", 1)])

    async def _station(self, ctx: CollectContext, station: str) -> dict[str, Any]:
        body = await self._get(ctx, f"stations/{station}", [])
        if not isinstance(body, dict) or not body.get("id"):
            raise ValueError(f"NOAA station {station}: no metadata returned")
        return body

    async def catalog(self, ctx: CollectContext) -> list[DatasetInfo]:
        found: list[DatasetInfo] = []
        for station, series in _by_station(ctx.datasets).items():
            meta = await self._station(ctx, station)
            found.extend(_dataset(series_id, dt, meta) for dt, series_id in series.items())
        return found

    async def collect(self, ctx: CollectContext) -> AsyncIterator[Batch]:
        for station, series in _by_station(ctx.datasets).items():
            meta = await self._station(ctx, station)
            plan = self._plan(ctx, station, series, meta)
            if plan is None:
                continue
            async for batch in self._fetch(ctx, plan, meta):
                yield batch

    def _plan(
        self, ctx: CollectContext, station: str, series: dict[str, str], meta: dict[str, Any]
    ) -> _Plan | None:
        """The series of one station whose data must be fetched this run, and the days."""
        maxdate, mindate = parse_day(meta.get("maxdate")), parse_day(meta.get("mindate"))
        today = ctx.now.date()
        chosen: dict[str, str] = {}
        starts: list[date] = []
        for datatype, series_id in series.items():
            ctx.stats.series_checked += 1
            state = ctx.states.get(series_id, SeriesState(series_id))
            if not ctx.backfill and not ctx.revisit and not _due(ctx, state, maxdate):
                ctx.stats.skipped_unchanged += 1
                continue
            chosen[datatype] = series_id
            if state.last_obs_date is not None:
                # Late reports and QC changes rewrite recent days.
                starts.append(revision_start(Frequency.DAILY, state.last_obs_date))
            elif mindate is not None:
                starts.append(mindate)
        if not chosen:
            return None
        if ctx.backfill:
            start = ctx.start or mindate
            end = min(d for d in (ctx.end, maxdate, today) if d is not None)
        else:
            start = min(starts, default=None)
            end = min(maxdate, today) if maxdate is not None else today
        ctx.stats.series_fetched += len(chosen)
        return _Plan(
            station=station,
            series=chosen,
            start=start or end,
            end=end,
            maxdate=maxdate,
            # A backfill reads a chosen window, not necessarily the trailing one.
            moves_maxdate=not ctx.backfill and maxdate is not None and end >= maxdate,
        )

    async def _fetch(
        self, ctx: CollectContext, plan: _Plan, meta: dict[str, Any]
    ) -> AsyncIterator[Batch]:
        last_seen: dict[str, date] = {}
        pending: list[RawObservation] | None = None
        if plan.maxdate is not None:  # a station without data has nothing to ask for
            for first, last in chunks(plan.start, plan.end):
                rows = await self._fetch_range(ctx, plan, first, last)
                ctx.stats.rows_parsed += len(rows)
                for row in rows:
                    seen = last_seen.get(row.series_id)
                    if row.obs_date and (seen is None or row.obs_date > seen):
                        last_seen[row.series_id] = row.obs_date
                for part in batched(rows, ctx.batch_size) if rows else []:
                    if pending is not None:
                        yield Batch(rows=pending)
                    pending = part
        # The checkpoints ride on the station's last batch: the last batch of each series.
        checkpoints = [
            _checkpoint(ctx, plan, series_id, last_seen.get(series_id))
            for series_id in plan.series.values()
        ]
        entries = [_dataset(series_id, dt, meta) for dt, series_id in plan.series.items()]
        yield Batch(rows=pending or [], checkpoints=checkpoints, datasets=entries)

    async def _fetch_range(
        self, ctx: CollectContext, plan: _Plan, first: date, last: date
    ) -> list[RawObservation]:
        """Every row of the plan's datatypes between first and last, all pages, deduplicated
        on (station, datatype, date) since offsets are 1-based and easy to get wrong."""
        params: list[tuple[str, Any]] = [
            ("datasetid", DATASET),
            ("stationid", plan.station),
            *[("datatypeid", dt) for dt in plan.series],
            ("startdate", first.isoformat()),
            ("enddate", last.isoformat()),
            ("units", UNIT_SYSTEM),
            ("sortfield", "date"),
            ("limit", PAGE_LIMIT),
        ]
        found: dict[tuple[str, str, date], RawObservation] = {}
        offset = 1
        while True:
            body = await self._get(ctx, "data", [*params, ("offset", offset)])
            if not isinstance(body, dict):
                raise ValueError("NOAA data: expected a JSON object")
            page = body.get("results") or []  # `{}` is an empty result, not an error
            for item in page:
                row = _row(plan, item)
                if row is not None and row.obs_date is not None:
                    found[(plan.station, row.series_id, row.obs_date)] = row
            resultset = (body.get("metadata") or {}).get("resultset") or {}
            count = int(resultset.get("count") or 0)
            offset += PAGE_LIMIT
            # Without `count`, a short page is the last one.
            if not page or (offset > count if count else len(page) < PAGE_LIMIT):
                return list(found.values())


def _by_station(datasets: list[str]) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, str]] = {}
    for series_id in datasets:
        station, datatype = split_series(series_id)
        grouped.setdefault(station, {})[datatype] = series_id
    return grouped


def _stored_maxdate(state: SeriesState) -> date | None:
    day = parse_day(state.cursor.get("maxdate"))
    if day is None and state.provider_last_updated is not None:
        day = state.provider_last_updated.date()
    return day


def _due(ctx: CollectContext, state: SeriesState, maxdate: date | None) -> bool:
    """True when a series must be fetched: never stored, maxdate moved, or revisit due."""
    if state.last_obs_date is None:
        return maxdate is not None
    if maxdate is not None and _stored_maxdate(state) != maxdate:
        return True
    try:
        revisited = datetime.fromisoformat(str(state.cursor.get("revisited_at")))
    except ValueError:
        return True
    return revisited <= ctx.now - REVISIT_EVERY


def _checkpoint(
    ctx: CollectContext, plan: _Plan, series_id: str, fetched_last: date | None
) -> CheckpointUpdate:
    state = ctx.states.get(series_id, SeriesState(series_id))
    last = max((d for d in (fetched_last, state.last_obs_date) if d), default=None)
    cursor = {
        **state.cursor,
        "station": plan.station,
        "datatype": split_series(series_id)[1],
        "units": UNIT_SYSTEM,
    }
    updated = state.provider_last_updated
    if plan.moves_maxdate:
        cursor["maxdate"] = plan.maxdate.isoformat() if plan.maxdate else None
        cursor["revisited_at"] = ctx.now.isoformat()
        updated = _midnight(plan.maxdate)
    return CheckpointUpdate(series_id, last, updated, cursor)


def _value(raw: Any) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _row(plan: _Plan, item: Any) -> RawObservation | None:
    if not isinstance(item, dict):
        return None
    datatype = str(item.get("datatype", ""))
    series_id = plan.series.get(datatype)
    if series_id is None or item.get("station", plan.station) != plan.station:
        return None  # not asked for; never file it under another series
    raw = item.get("value")
    day = parse_day(item.get("date"))
    return RawObservation(
        series_id=series_id,
        period_label=day.isoformat() if day else str(item.get("date", "")),
        obs_date=day,
        value=_value(raw),
        raw_value=None if raw is None else str(raw),
        units=UNITS.get(datatype),
        metadata={**parse_attributes(item.get("attributes")), "unit_system": UNIT_SYSTEM},
    )


def _dataset(series_id: str, datatype: str, meta: dict[str, Any]) -> DatasetInfo:
    maxdate = parse_day(meta.get("maxdate"))
    return DatasetInfo(
        series_id=series_id,
        title=f"{meta.get('name') or meta.get('id')} {datatype} (GHCND daily)",
        units=UNITS.get(datatype),
        frequency="daily",
        provider_last_updated=_midnight(maxdate),
        observation_start=parse_day(meta.get("mindate")),
        observation_end=maxdate,
        attributes={
            "station": meta.get("id"),
            "datatype": datatype,
            "unit_system": UNIT_SYSTEM,
            **{
                k: meta[k]
                for k in ("latitude", "longitude", "elevation", "elevationUnit", "datacoverage")
                if k in meta
            },
        },
    )
