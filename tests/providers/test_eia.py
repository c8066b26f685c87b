"""The EIA collector: parse helpers, then end to end (the provider sandbox over HTTP, the
collector through the guarded client, the ingest pipeline into PostgreSQL). A second run costs
only the latest-period probes; after the sandbox publishes, only the changed series is fetched;
more than 5,000 rows are paged; an error sent with HTTP 200 is retried, then fails cleanly."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.db.engine import build_sessionmaker, libpq_url
from app.jobs.collect import CollectionRequest, CollectionSummary, collect_provider, load_states
from app.providers.base import CollectContext
from app.providers.eia import (
    EiaCollector,
    format_period,
    inspect,
    parse_period,
    parse_series_id,
    parse_value,
)
from app.providers.revisions import Frequency, revision_start
from app.resilience.client import GuardedClient
from app.resilience.config import RateConfig, ResilienceConfig, RetryConfig
from app.resilience.errors import ProviderUnavailable
from app.sandbox.catalog import default_catalog
from app.sandbox.server import SandboxServer
from tests.support.collecting import guarded_client

MONTHLY = "electricity/retail-sales:monthly:CO/RES:price"
WEEKLY = "petroleum/pri/spt:weekly:RBRTE"  # the route's only column, left out
DAILY = "petroleum/pri/spt:daily:RWTC"


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("2024", date(2024, 1, 1)),
        ("2024-Q1", date(2024, 1, 1)),
        ("2024-Q4", date(2024, 10, 1)),
        ("2024-07", date(2024, 7, 1)),
        ("2024-01-05", date(2024, 1, 5)),
        ("2024-Q5", None),
        ("2024-13", None),
        ("nope", None),
        ("", None),
    ],
)
def test_parse_period(label: str, expected: date | None) -> None:
    assert parse_period(label) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("15.02", 15.02), (14.73, 14.73), ("0099", 99.0), (None, None), ("NA", None), ("", None)],
)
def test_parse_value(raw: Any, expected: float | None) -> None:
    assert parse_value(raw) == expected


def test_series_ids_periods_and_windows() -> None:
    spec = parse_series_id(MONTHLY)
    assert (spec.route, spec.frequency, spec.column) == (
        "electricity/retail-sales",
        "monthly",
        "price",
    )
    assert spec.facets == ((None, "CO"), (None, "RES"))
    named = parse_series_id("electricity/retail-sales:monthly:stateid=CO/sectorid=99")
    assert named.facets == (("stateid", "CO"), ("sectorid", "99")) and named.column is None
    for bad in ("electricity/retail-sales", "r:hourly:X", ":monthly:X"):
        with pytest.raises(ValueError):
            parse_series_id(bad)
    day = date(2024, 2, 17)
    assert [format_period(f, day) for f in ("annual", "quarterly", "monthly", "daily")] == [
        "2024",
        "2024-Q1",
        "2024-02",
        "2024-02-17",
    ]


def _response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode())


def test_inspect_finds_errors_in_the_body() -> None:
    assert inspect(_response(200, {"response": {"data": []}})).error is None
    flat = inspect(_response(200, {"error": "Something unexpected happened.", "code": 400}))
    assert flat.error == "400: Something unexpected happened." and not flat.throttled
    nested = inspect(_response(403, {"error": {"code": "API_KEY_MISSING", "message": "No key"}}))
    assert nested.error == "API_KEY_MISSING: No key"
    throttle = {"error": {"code": "OVER_RATE_LIMIT", "message": "suspended"}}
    assert inspect(_response(429, throttle)).throttled
    assert inspect(httpx.Response(200, content=b'{"resp')).error == "body is not JSON"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    catalog = default_catalog()
    # Daily spot prices from 2004: more than 5,000 rows in one series, so it pages.
    eia = [
        dataclasses.replace(r, start=date(2004, 1, 1)) if r.route == "petroleum/pri/spt" else r
        for r in catalog.eia
    ]
    with SandboxServer(catalog=dataclasses.replace(catalog, eia=eia)) as server:
        yield server


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[GuardedClient]:
    config = ResilienceConfig(
        provider="eia",
        rate=RateConfig(requests_per_second=500, burst=50),
        retry=RetryConfig(base_delay_seconds=0.01, max_delay_seconds=0.2, timeout_seconds=10),
    )
    async with guarded_client(redis_url, config) as client:
        yield client


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


def _key(series_id: str) -> str:
    """The sandbox's key: the series id without its column part."""
    return ":".join(series_id.split(":")[:3])


def _stored(database_url: str, tenant: str, series_id: str) -> dict[str, float | None]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT obs_date, raw_value FROM external_timeseries_obs "
            "WHERE tenant_id = %s AND provider = 'eia' AND series_id = %s",
            (tenant, series_id),
        ).fetchall()
    return {d.isoformat(): None if v is None else float(v) for d, v in rows}


def _truth(sandbox: SandboxServer, series_id: str) -> dict[str, float | None]:
    truth = sandbox.control("GET", f"truth/eia/{_key(series_id)}")
    return {o["date"]: o["value"] for o in truth["observations"]}


def _checkpoint(database_url: str, tenant: str, series_id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(
            "SELECT last_obs_date, cursor FROM ingest_checkpoints "
            "WHERE tenant_id = %s AND provider = 'eia' AND series_id = %s",
            (tenant, series_id),
        ).fetchone()


class Runner:
    def __init__(self, sandbox: SandboxServer, client: GuardedClient, engine: AsyncEngine) -> None:
        self.sandbox, self.client = sandbox, client
        self.sessionmaker = build_sessionmaker(engine)
        self.tenant = f"t{uuid.uuid4().hex[:8]}"  # checkpoints and rows of this test alone

    async def run(self, datasets: list[str]) -> CollectionSummary:
        request = CollectionRequest(
            provider="eia",
            base_url=self.sandbox.base_urls()["eia"],
            credential="sandbox",
            datasets=datasets,
            topic="aurum.ref.eia.series.v1",
            dlq_topic="aurum.ref.eia.series.dlq.v1",
            batch_size=1000,
        )
        return await collect_provider(
            sessionmaker=self.sessionmaker,
            collector=EiaCollector(),
            client=self.client,
            request=request,
            tenant_id=self.tenant,
        )


async def test_collect_then_only_probes_then_the_changes(
    sandbox: SandboxServer, client: GuardedClient, engine: AsyncEngine, database_url: str
) -> None:
    runner = Runner(sandbox, client, engine)
    first = await runner.run([MONTHLY, WEEKLY])
    assert first.series_fetched == 2 and first.rows_new > 0 and first.rows_rejected == 0
    assert first.requests == 2 + 2  # each route's metadata (facet ids), then one page each
    for series_id in (MONTHLY, WEEKLY):
        assert _stored(database_url, runner.tenant, series_id) == _truth(sandbox, series_id)

    second = await runner.run([MONTHLY, WEEKLY])
    assert second.series_fetched == 0 and second.skipped_unchanged == 2
    assert second.rows_new == second.rows_changed == 0
    assert second.requests == 2  # one latest-period probe per series, nothing else

    sandbox.control("POST", "advance", {"series": [f"eia:{_key(MONTHLY)}"]})
    third = await runner.run([MONTHLY, WEEKLY])
    assert third.series_fetched == 1 and third.skipped_unchanged == 1
    assert third.requests == 2 + 1  # the probes, then one page of the trailing window
    assert third.rows_new + third.rows_changed > 0  # published or revised in place
    assert _stored(database_url, runner.tenant, MONTHLY) == _truth(sandbox, MONTHLY)
    last, cursor = _checkpoint(database_url, runner.tenant, MONTHLY) or (None, {})
    assert last == max(date.fromisoformat(d) for d in _truth(sandbox, MONTHLY))
    assert cursor["facets"] == {"stateid": "CO", "sectorid": "RES"}
    assert cursor["units"] == "cents per kilowatthour"


async def test_more_than_one_page(
    sandbox: SandboxServer, client: GuardedClient, engine: AsyncEngine, database_url: str
) -> None:
    series_id = "petroleum/pri/spt:daily:series=RWTC:value"  # named facet: no metadata call
    truth = _truth(sandbox, "petroleum/pri/spt:daily:RWTC")
    assert len(truth) > 5000
    runner = Runner(sandbox, client, engine)
    summary = await runner.run([series_id])
    assert summary.requests == (len(truth) + 4999) // 5000
    assert summary.batches == (len(truth) + 999) // 1000
    assert _stored(database_url, runner.tenant, series_id) == truth


async def test_error_with_http_200_is_retried_then_fails_without_moving_the_checkpoint(
    sandbox: SandboxServer, client: GuardedClient, engine: AsyncEngine, database_url: str
) -> None:
    runner = Runner(sandbox, client, engine)
    await runner.run([WEEKLY])
    before = _checkpoint(database_url, runner.tenant, WEEKLY)
    sandbox.control("POST", "advance", {"series": [f"eia:{_key(WEEKLY)}"]})
    sandbox.control("POST", "faults", {"kind": "error_200", "provider": "eia", "path": "/data"})
    try:
        with pytest.raises(ProviderUnavailable, match="Something unexpected happened"):
            await runner.run([WEEKLY])
        (rule,) = sandbox.control("GET", "faults")["faults"]
        assert rule["fired"] == 3  # every attempt the retry policy allows
    finally:
        sandbox.control("DELETE", "faults")
    assert _checkpoint(database_url, runner.tenant, WEEKLY) == before

    after = await runner.run([WEEKLY])
    assert after.series_fetched == 1
    assert _stored(database_url, runner.tenant, WEEKLY) == _truth(sandbox, WEEKLY)


async def test_catalog_describes_each_series(sandbox: SandboxServer, client: GuardedClient) -> None:
    ctx = CollectContext(
        client=client,
        base_url=sandbox.base_urls()["eia"],
        credential="sandbox",
        datasets=[MONTHLY, WEEKLY],
        states={},
        now=datetime.now(UTC),
    )
    monthly, weekly = await EiaCollector().catalog(ctx)
    assert monthly.series_id == MONTHLY and monthly.frequency == "monthly"
    assert monthly.units == "cents per kilowatthour"
    assert "Electricity Sales" in monthly.title and "stateid=CO" in monthly.title
    assert monthly.observation_start is not None
    assert weekly.units == "$/BBL" and weekly.attributes["facets"] == {"series": "RBRTE"}


@pytest.mark.parametrize(
    ("series_id", "frequency", "at_least"),
    [(MONTHLY, Frequency.MONTHLY, 20), (DAILY, Frequency.DAILY, 40)],
)
async def test_trailing_window_is_re_read_once_the_revision_interval_passed(
    sandbox: SandboxServer,
    client: GuardedClient,
    engine: AsyncEngine,
    series_id: str,
    frequency: Frequency,
    at_least: int,
) -> None:
    runner = Runner(sandbox, client, engine)
    await runner.run([series_id])
    async with runner.sessionmaker() as session:
        states = await load_states(session, tenant_id=runner.tenant, provider="eia")
    now = datetime.now(UTC)
    for hours, fetched in ((23, 0), (25, 1)):
        state = states[series_id]
        stale = {**state.cursor, "revised_at": (now - timedelta(hours=hours)).isoformat()}
        ctx = CollectContext(
            client=client,
            base_url=sandbox.base_urls()["eia"],
            credential="sandbox",
            datasets=[series_id],
            states={series_id: dataclasses.replace(state, cursor=stale)},
            now=now,
        )
        batches = [b async for b in EiaCollector().collect(ctx)]
        assert ctx.stats.series_fetched == fetched
        if fetched:
            (batch,) = batches
            # The revision window (24 months, 90 days) before the checkpoint and its period, as
            # the sandbox publishes them (its series have gaps: the count depends on the date).
            last = state.last_obs_date
            assert last is not None
            start = revision_start(frequency, last)
            truth = _truth(sandbox, series_id)
            window = [d for d in truth if start <= date.fromisoformat(d) <= last]
            assert len(batch.rows) == len(window) and len(window) >= at_least
            assert batch.checkpoints[0].cursor["revised_at"] == now.isoformat()
