"""The World Bank collector end to end: the provider sandbox over HTTP, the collector through the
guarded client, the ingest pipeline into PostgreSQL. Change detection costs one request per
source; a source that moved re-fetches its indicators, one request per indicator for every
country; an error envelope sent with HTTP 200 is retried and fails without moving checkpoints."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.db.engine import build_sessionmaker, libpq_url
from app.jobs.collect import CollectionRequest, CollectionSummary, collect_provider
from app.providers import worldbank
from app.providers.base import CollectContext, SeriesState
from app.providers.registry import collector_for
from app.providers.worldbank import (
    WorldBankCollector,
    inspect,
    parse_period,
    split_rows,
    split_series_id,
    strip_html,
)
from app.resilience.client import GuardedClient
from app.resilience.config import BreakerConfig, RateConfig, ResilienceConfig, RetryConfig
from app.resilience.errors import ProviderThrottled, ProviderUnavailable
from app.sandbox.server import SandboxServer
from tests.support.collecting import guarded_client

INDICATORS = {  # indicator → source, as the sandbox serves them
    "NY.GDP.MKTP.CD": "2",
    "FP.CPI.TOTL.ZG": "2",
    "CPTOTSAXN": "15",
    "DP.DOD.DECD.CR.PS.CD": "22",
}
COUNTRIES = ("USA", "DEU", "CHN")
SERIES = [f"{ind}:{iso3}" for ind in INDICATORS for iso3 in COUNTRIES]
ATTEMPTS = 3


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[GuardedClient]:
    config = ResilienceConfig(
        provider="worldbank",
        rate=RateConfig(requests_per_second=500, burst=50),
        breaker=BreakerConfig(failure_threshold=1000),  # the error test must not open it
        retry=RetryConfig(
            attempts=ATTEMPTS, base_delay_seconds=0.01, max_delay_seconds=0.2, timeout_seconds=10
        ),
    )
    async with guarded_client(redis_url, config) as client:
        yield client


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(database_url)
    yield build_sessionmaker(engine)
    await engine.dispose()


def _request(sandbox: SandboxServer, series: list[str] = SERIES) -> CollectionRequest:
    return CollectionRequest(
        provider="worldbank",
        base_url=sandbox.base_urls()["worldbank"],
        credential="",  # no key: the runner passes "" for credential_setting null
        datasets=series,
        topic="aurum.ref.worldbank.series.v1",
        dlq_topic="aurum.ref.worldbank.series.dlq.v1",
        batch_size=500,
    )


async def _run(
    sandbox: SandboxServer,
    client: GuardedClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant: str,
    series: list[str] = SERIES,
) -> CollectionSummary:
    return await collect_provider(
        sessionmaker=sessionmaker,
        collector=WorldBankCollector(),
        client=client,
        request=_request(sandbox, series),
        tenant_id=tenant,
    )


def _stored(database_url: str, tenant: str, series_id: str) -> dict[str, float | None]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT obs_date::text, value FROM external_timeseries_obs "
            "WHERE tenant_id = %s AND provider = 'worldbank' AND series_id = %s",
            (tenant, series_id),
        ).fetchall()
    return dict(rows)


def _checkpoints(database_url: str, tenant: str) -> dict[str, tuple]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT series_id, last_obs_date, provider_last_updated, cursor "
            "FROM ingest_checkpoints WHERE tenant_id = %s AND provider = 'worldbank'",
            (tenant,),
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def _truth(sandbox: SandboxServer, series_id: str) -> dict[str, float | None]:
    truth = sandbox.control("GET", f"truth/worldbank/{series_id}")
    return {o["date"]: o["value"] for o in truth["observations"]}


def _assert_matches_truth(
    sandbox: SandboxServer, database_url: str, tenant: str, series_id: str
) -> None:
    truth = _truth(sandbox, series_id)
    stored = _stored(database_url, tenant, series_id)
    assert stored.keys() == truth.keys(), series_id
    for day, value in truth.items():
        if value is None:
            assert stored[day] is None, (series_id, day)
        else:
            assert stored[day] == pytest.approx(value, rel=1e-9), (series_id, day)


def _tenant() -> str:
    return f"t{uuid.uuid4().hex[:8]}"  # checkpoints and rows of this test alone


async def test_collect_then_only_source_checks_then_the_moved_source(
    sandbox: SandboxServer,
    client: GuardedClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    tenant = _tenant()
    first = await _run(sandbox, client, sessionmaker, tenant)
    assert first.series_fetched == len(SERIES) and first.rows_rejected == 0
    assert first.requests == len(INDICATORS)  # new indicators: one data page each, no checks
    for series_id in SERIES:
        _assert_matches_truth(sandbox, database_url, tenant, series_id)
    checkpoints = _checkpoints(database_url, tenant)
    assert {s: c[2]["source"] for s, c in checkpoints.items()} == {
        s: INDICATORS[s.split(":")[0]] for s in SERIES
    }

    second = await _run(sandbox, client, sessionmaker, tenant)
    assert second.series_fetched == 0 and second.skipped_unchanged == len(SERIES)
    assert second.rows_new == second.rows_changed == 0
    assert second.requests == len(set(INDICATORS.values()))  # one source check each, no data
    assert _checkpoints(database_url, tenant) == checkpoints

    sandbox.control("POST", "advance", {"series": ["worldbank:CPTOTSAXN:USA"]})
    third = await _run(sandbox, client, sessionmaker, tenant)
    assert third.series_fetched == len(COUNTRIES)  # the one indicator of source 15
    assert third.skipped_unchanged == len(SERIES) - len(COUNTRIES)
    assert third.requests == len(set(INDICATORS.values())) + 1  # the checks, then one page
    assert third.rows_new + third.rows_changed > 0
    for iso3 in COUNTRIES:
        _assert_matches_truth(sandbox, database_url, tenant, f"CPTOTSAXN:{iso3}")
    moved = _checkpoints(database_url, tenant)
    assert moved["CPTOTSAXN:USA"][1] > checkpoints["CPTOTSAXN:USA"][1]
    assert moved["NY.GDP.MKTP.CD:USA"] == checkpoints["NY.GDP.MKTP.CD:USA"]

    fourth = await _run(sandbox, client, sessionmaker, tenant)
    assert fourth.series_fetched == 0 and fourth.requests == len(set(INDICATORS.values()))


async def test_pages_are_followed_until_pages(
    sandbox: SandboxServer,
    client: GuardedClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worldbank, "PER_PAGE", 40)
    tenant = _tenant()
    series = [f"DP.DOD.DECD.CR.PS.CD:{iso3}" for iso3 in COUNTRIES]
    total = sum(len(_truth(sandbox, s)) for s in series)
    summary = await _run(sandbox, client, sessionmaker, tenant, series)
    assert summary.requests == math.ceil(total / 40) > 1
    for series_id in series:
        _assert_matches_truth(sandbox, database_url, tenant, series_id)


async def test_error_envelope_with_http_200_is_retried_then_fails_cleanly(
    sandbox: SandboxServer,
    client: GuardedClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    tenant = _tenant()
    series = [f"FP.CPI.TOTL.ZG:{iso3}" for iso3 in COUNTRIES]
    await _run(sandbox, client, sessionmaker, tenant, series)
    before = _checkpoints(database_url, tenant)
    assert len(before) == len(COUNTRIES)
    # Make the stored stamp look old, so the next run must fetch data for the indicator.
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "UPDATE ingest_checkpoints SET provider_last_updated = %s "
            "WHERE tenant_id = %s AND provider = 'worldbank'",
            (datetime(2000, 1, 1, tzinfo=UTC), tenant),
        )
    before = _checkpoints(database_url, tenant)
    sandbox.control(
        "POST", "faults", {"kind": "error_200", "provider": "worldbank", "path": "country/"}
    )
    sent = client.attempts["worldbank"]
    try:
        with pytest.raises(ProviderUnavailable) as failed:
            await _run(sandbox, client, sessionmaker, tenant, series)
        assert "code 120" in str(failed.value)
        assert client.attempts["worldbank"] - sent == 1 + ATTEMPTS  # source check, then retries
        assert _checkpoints(database_url, tenant) == before
    finally:
        sandbox.control("DELETE", "faults")
    after = await _run(sandbox, client, sessionmaker, tenant, series)
    assert after.series_fetched == len(COUNTRIES)
    assert _checkpoints(database_url, tenant) != before


async def test_code_105_throttles_and_gives_up(
    sandbox: SandboxServer,
    client: GuardedClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    sandbox.control("POST", "faults", {"kind": "throttle", "provider": "worldbank", "status": 200})
    try:
        with pytest.raises(ProviderThrottled):
            await _run(sandbox, client, sessionmaker, _tenant(), ["CPTOTSAXN:USA"])
    finally:
        sandbox.control("DELETE", "faults")


async def test_catalog_describes_each_series(sandbox: SandboxServer, client: GuardedClient) -> None:
    ctx = CollectContext(
        client=client,
        base_url=sandbox.base_urls()["worldbank"],
        credential="",
        datasets=["NY.GDP.MKTP.CD:USA", "NY.GDP.MKTP.CD:DEU", "CPTOTSAXN:CHN"],
        states={},
        now=datetime.now(UTC),
    )
    found = {info.series_id: info for info in await WorldBankCollector().catalog(ctx)}
    gdp = found["NY.GDP.MKTP.CD:DEU"]
    assert gdp.title == "GDP (current US$) (DEU)" and gdp.units == "current US$"
    assert gdp.attributes["source_id"] == "2" and gdp.provider_last_updated is not None
    assert found["CPTOTSAXN:CHN"].attributes["source_id"] == "15"
    assert client.attempts["worldbank"] == 2 + 2  # two indicators, two sources


def test_registry_serves_worldbank() -> None:
    assert isinstance(collector_for("worldbank"), WorldBankCollector)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("2023", date(2023, 1, 1)),
        ("2023Q1", date(2023, 1, 1)),
        ("2023Q4", date(2023, 10, 1)),
        ("2023M01", date(2023, 1, 1)),
        ("2023M12", date(2023, 12, 1)),
        ("2023m7", date(2023, 7, 1)),
        (" 1999 ", date(1999, 1, 1)),
        ("2023Q5", None),
        ("2023Q0", None),
        ("2023M13", None),
        ("2023M00", None),
        ("23", None),
        ("2023-01", None),
        ("YTD", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_period(label: str | None, expected: date | None) -> None:
    assert parse_period(label) == expected


def _response(body: str, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(200, text=body, headers={"content-type": content_type})


def test_inspect_reads_the_body() -> None:
    ok = '[{"page": "1", "pages": "1", "per_page": "50", "total": "0"}, null]'
    assert inspect(_response(ok)).error is None
    invalid = '[{"message": [{"id": "120", "key": "Invalid value", "value": "bad"}]}]'
    verdict = inspect(_response(invalid))
    assert verdict.error == "code 120: Invalid value - bad" and not verdict.throttled
    busy = '[{"message": [{"id": "105", "key": "Service currently unavailable"}]}]'
    assert inspect(_response(busy)).throttled
    assert inspect(_response("<html><body>502</body></html>", "text/html")).error
    assert inspect(_response('<?xml version="1.0"?><wb:data/>', "text/xml")).error
    assert inspect(_response('[{"page": 1')).error  # truncated
    assert inspect(_response('{"page": 1}')).error  # not the [header, rows] wrapper


def test_series_ids() -> None:
    assert split_series_id("NY.GDP.MKTP.CD:usa") == ("NY.GDP.MKTP.CD", "USA")
    with pytest.raises(ValueError):
        split_series_id("NY.GDP.MKTP.CD")


def test_rows_split_by_country_and_aggregates_without_iso3() -> None:
    rows = [
        {"countryiso3code": "USA", "country": {"id": "US"}, "date": "2023"},
        {"countryiso3code": "", "country": {"id": "EU"}, "date": "2023"},
        {"countryiso3code": "DEU", "country": {"id": "DE"}, "date": "2023"},
    ]
    split = split_rows(rows, ["USA", "EU"])
    assert [len(split["USA"]), len(split["EU"])] == [1, 1] and "DEU" not in split
    assert len(split_rows(rows[1:2], ["EUU"])["EUU"]) == 1  # the only code asked for


def test_strip_html() -> None:
    assert strip_html("<p>GDP &amp; more</p>\n<br/>text") == "GDP & more text"


@pytest.mark.parametrize(
    ("indicator", "source", "last", "label", "first_year"),
    [
        # 15 years of an annual indicator before its checkpoint, not 15 years before today.
        ("NY.GDP.MKTP.CD", "2", date(2020, 1, 1), "2020", 2005),
        # 24 months of a monthly one, widened to whole years.
        ("CPTOTSAXN", "15", date(2026, 6, 1), "2026M06", 2024),
    ],
)
async def test_a_moved_source_re_reads_the_revision_window_of_each_frequency(
    sandbox: SandboxServer,
    client: GuardedClient,
    indicator: str,
    source: str,
    last: date,
    label: str,
    first_year: int,
) -> None:
    series_id = f"{indicator}:USA"
    state = SeriesState(
        series_id,
        last_obs_date=last,
        provider_last_updated=datetime(2000, 1, 1, tzinfo=UTC),  # the source moved since
        cursor={"source": source, "last_label": label},
    )
    ctx = CollectContext(
        client=client,
        base_url=sandbox.base_urls()["worldbank"],
        credential="",
        datasets=[series_id],
        states={series_id: state},
        now=datetime.now(UTC),
    )
    rows = [r async for b in WorldBankCollector().collect(ctx) for r in b.rows]
    years = {r.obs_date.year for r in rows if r.obs_date is not None}
    assert min(years) == first_year
