"""A NOAA (GHCND) collection end to end: the provider sandbox with its 5-per-second token
throttle on, the NOAA collector through the guarded client at 4/s, the ingest pipeline into
PostgreSQL. A second run costs only the station checks; an advanced station is re-fetched; no
request spans a year; `{}` is an empty answer; a throttle answer is retried."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.engine import build_sessionmaker, libpq_url
from app.jobs.collect import CollectionRequest, CollectionSummary, collect_provider
from app.providers.noaa import NoaaCollector, chunks, inspect, parse_attributes
from app.resilience.client import GuardedClient
from app.resilience.config import RateConfig, ResilienceConfig, RetryConfig
from app.sandbox.server import SandboxServer
from tests.support.collecting import guarded_client

STATIONS = ["GHCND:USW00014895", "GHCND:USW00094728"]
SERIES = [f"{s}:{dt}" for s in STATIONS for dt in ("TMAX", "TMIN", "PRCP")]


class Sent:
    """The URLs of the requests that reached the sandbox."""

    def __init__(self) -> None:
        self.urls: list[httpx.URL] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.urls.append(request.url)

    def data(self) -> list[httpx.URL]:
        return [u for u in self.urls if u.path.endswith("/data")]


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
async def client(redis_url: str, sent: Sent) -> AsyncIterator[GuardedClient]:
    config = ResilienceConfig(
        provider="noaa",
        # The configured 4/s, one at a time; not adaptive, so a throttle test cannot slow
        # the others through the shared limiter state.
        rate=RateConfig(requests_per_second=4, burst=1, adaptive=False),
        retry=RetryConfig(base_delay_seconds=0.3, max_delay_seconds=1, timeout_seconds=10),
    )
    async with guarded_client(
        redis_url, config, http=httpx.AsyncClient(event_hooks={"request": [sent]})
    ) as client:
        yield client


@pytest.fixture
async def collect(
    sandbox: SandboxServer, client: GuardedClient, database_url: str
) -> AsyncIterator[Any]:
    engine = create_async_engine(database_url)
    sessionmaker = build_sessionmaker(engine)

    async def run(
        tenant: str, datasets: list[str], start: date | None = None, end: date | None = None
    ) -> CollectionSummary:
        request = CollectionRequest(
            provider="noaa",
            base_url=sandbox.base_urls()["noaa"],
            credential="sandbox",
            datasets=datasets,
            topic="aurum.ref.noaa.series.v1",
            dlq_topic="aurum.ref.noaa.series.dlq.v1",
            batch_size=200,
            start=start,
            end=end,
        )
        return await collect_provider(
            sessionmaker=sessionmaker,
            collector=NoaaCollector(),
            client=client,
            request=request,
            tenant_id=tenant,
        )

    yield run
    await engine.dispose()


def _tenant() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def _stored(database_url: str, tenant: str, series_id: str) -> dict[str, tuple[Any, ...]]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT obs_date::text, value, units, metadata FROM external_timeseries_obs "
            "WHERE tenant_id = %s AND provider = 'noaa' AND series_id = %s",
            (tenant, series_id),
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _truth(sandbox: SandboxServer, series_id: str) -> dict[str, float]:
    """The sandbox keeps raw GHCN tenths (°C, mm); metric is tenths / 10."""
    truth = sandbox.control("GET", f"truth/noaa/{series_id}")
    return {
        o["date"]: round(o["value"] / 10, 1)
        for o in truth["observations"]
        if o["value"] is not None
    }


def _assert_matches(sandbox: SandboxServer, database_url: str, tenant: str, series_id: str) -> None:
    stored, truth = _stored(database_url, tenant, series_id), _truth(sandbox, series_id)
    assert len(stored) == len(truth) > 0
    for day in sorted(truth)[:: max(len(truth) // 7, 1)]:  # a handful spread over the years
        value, units, metadata = stored[day]
        assert value == pytest.approx(truth[day])
        assert units == ("mm" if series_id.endswith("PRCP") else "degC")
        assert metadata["unit_system"] == "metric" and metadata["sflag"] == "W"


def _assert_well_formed(urls: list[httpx.URL]) -> None:
    for url in urls:
        params = url.params
        start = date.fromisoformat(params["startdate"])
        end = date.fromisoformat(params["enddate"])
        assert start <= end < start.replace(year=start.year + 1)  # never a year (no 29 Feb)
        assert params["units"] == "metric" and params["limit"] == "1000"
        assert (int(params["offset"]) - 1) % 1000 == 0  # 1, 1001, 2001...
        assert "GHCND:" in str(url)  # ids sent with a literal colon


async def test_collect_then_only_station_checks_then_the_advanced_station(
    sandbox: SandboxServer, collect: Any, sent: Sent, database_url: str
) -> None:
    tenant = _tenant()
    first = await collect(tenant, SERIES)
    assert first.series_fetched == 6 and first.rows_new > 0 and first.rows_rejected == 0
    for series_id in SERIES:
        _assert_matches(sandbox, database_url, tenant, series_id)
    # Six years and more of history: several chunks per station, one request per page.
    data = sent.data()
    assert len({u.params["startdate"] for u in data}) > 5
    assert {len(u.params.get_list("datatypeid")) for u in data} == {3}
    assert first.requests == len(sent.urls) == 2 + len(data)
    _assert_well_formed(data)

    second = await collect(tenant, SERIES)
    assert second.series_fetched == 0 and second.skipped_unchanged == 6
    assert second.requests == 2  # one /stations/{id} per station, shared by its datatypes
    assert second.rows_new == second.rows_changed == 0

    advanced = f"{STATIONS[0]}:TMAX"
    result = sandbox.control("POST", "advance", {"series": [f"noaa:{advanced}"]})
    assert result  # one more day published for TMAX: the station's maxdate moves
    before = len(sent.urls)
    third = await collect(tenant, SERIES)
    assert third.series_fetched == 3 and third.skipped_unchanged == 3  # only that station
    assert third.requests == 2 + 1  # the checks, then one page of the trailing window
    (url,) = [u for u in sent.urls[before:] if u.path.endswith("/data")]
    assert url.params["stationid"] == STATIONS[0]
    # The revision window: 90 days before the oldest checkpoint of the station's datatypes.
    span = date.fromisoformat(url.params["enddate"]) - date.fromisoformat(url.params["startdate"])
    assert span >= timedelta(days=90)
    _assert_well_formed([url])
    assert third.rows_new >= 1
    _assert_matches(sandbox, database_url, tenant, advanced)


async def test_an_empty_answer_is_no_error(
    sandbox: SandboxServer, collect: Any, sent: Sent, database_url: str
) -> None:
    tenant = _tenant()  # stations start in 2020: a 2019 window answers `{}`
    summary = await collect(tenant, SERIES[:2], start=date(2019, 1, 1), end=date(2019, 6, 30))
    assert summary.requests == 2 and summary.rows_new == summary.rows_rejected == 0
    assert len(sent.data()) == 1 and summary.series_fetched == 2
    assert _stored(database_url, tenant, SERIES[0]) == {}


async def test_a_throttle_answer_is_retried(
    sandbox: SandboxServer, collect: Any, sent: Sent, database_url: str
) -> None:
    tenant = _tenant()
    sandbox.control(
        "POST", "faults", {"kind": "throttle", "provider": "noaa", "path": "data", "count": 1}
    )
    try:
        summary = await collect(tenant, [SERIES[3]], start=date(2024, 1, 1), end=date(2024, 3, 31))
        rules = sandbox.control("GET", "faults")["faults"]
    finally:
        sandbox.control("DELETE", "faults")
    assert [r["fired"] for r in rules] == [1]
    assert summary.requests == 1 + 2  # the station, the throttled attempt, the retry
    stored = _stored(database_url, tenant, SERIES[3])
    truth = {d: v for d, v in _truth(sandbox, SERIES[3]).items() if "2024-01" <= d < "2024-04"}
    assert {d: row[0] for d, row in stored.items()} == pytest.approx(truth)


def test_ranges_stay_under_a_year() -> None:
    start, end = date(2020, 1, 1), date(2026, 11, 20)
    spans = list(chunks(start, end))
    assert spans[0][0] == start and spans[-1][1] == end
    for (_, last), (following, _) in pairwise(spans):
        assert following == last + timedelta(days=1)  # contiguous, no day twice
    assert all(last < first.replace(year=first.year + 1) for first, last in spans)


def _response(body: str, ctype: str = "application/json", status: int = 200) -> httpx.Response:
    return httpx.Response(status, text=body, headers={"content-type": ctype})


def test_body_inspection() -> None:
    throttle = '{"status":"429","message":"This token has reached its temporary request limit"}'
    assert inspect(_response(throttle, status=429)).throttled
    error = inspect(_response('{"status":"500","message":"An unexpected error occurred."}'))
    assert error.error and not error.throttled
    assert inspect(_response("<html>shutdown</html>", "text/html")).error
    assert inspect(_response("{}")) == inspect(_response('{"id": "GHCND:X"}'))
    assert inspect(_response("{}")).error is None


def test_attribute_flags() -> None:
    assert parse_attributes("T,,W,2400") == {"mflag": "T", "sflag": "W", "obstime": "2400"}
    assert parse_attributes(None) == {}


async def test_a_backfill_leaves_change_detection_to_the_next_run_and_revisits_are_due(
    sandbox: SandboxServer, collect: Any, sent: Sent, database_url: str
) -> None:
    tenant, series = _tenant(), [SERIES[5]]
    recent = date.today() - timedelta(days=60)
    backfill = await collect(tenant, series, start=recent)
    assert backfill.requests == 2 and backfill.rows_new > 0
    # The backfill did not record maxdate: the next run checks the trailing window once...
    assert (await collect(tenant, series)).requests == 2
    assert (await collect(tenant, series)).requests == 1  # ...then the station check only
    # GHCN revises in place without moving maxdate: a stale revisit re-reads the window.
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "UPDATE ingest_checkpoints SET cursor = jsonb_set(cursor, '{revisited_at}', "
            "'\"2000-01-01T00:00:00+00:00\"') WHERE tenant_id = %s AND provider = 'noaa'",
            (tenant,),
        )
    before = len(sent.urls)
    revisit = await collect(tenant, series)
    assert revisit.requests == 2 and revisit.series_fetched == 1
    (url,) = [u for u in sent.urls[before:] if u.path.endswith("/data")]
    assert url.params.get_list("datatypeid") == ["PRCP"]
    _assert_well_formed([url])
