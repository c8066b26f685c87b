"""A FRED collection end to end: the provider sandbox over HTTP, the FRED collector through the
guarded client, the ingest pipeline into PostgreSQL. A second run costs only change detection;
after the sandbox revises data, only changed series are fetched."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.engine import build_sessionmaker, libpq_url
from app.jobs.collect import CollectionRequest, collect_provider
from app.providers.fred import FredCollector
from app.resilience.client import GuardedClient
from app.resilience.config import RateConfig, ResilienceConfig, RetryConfig
from app.sandbox.server import SandboxServer
from tests.support.collecting import guarded_client

SERIES = ["DGS10", "UNRATE"]


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[GuardedClient]:
    config = ResilienceConfig(
        provider="fred",
        rate=RateConfig(requests_per_second=500, burst=50),
        retry=RetryConfig(base_delay_seconds=0.01, max_delay_seconds=0.2, timeout_seconds=10),
    )
    async with guarded_client(redis_url, config) as client:
        yield client


def _stored(database_url: str, tenant: str, series_id: str) -> dict[str, str | None]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT obs_date::text, raw_value FROM external_timeseries_obs "
            "WHERE tenant_id = %s AND provider = 'fred' AND series_id = %s",
            (tenant, series_id),
        ).fetchall()
    return dict(rows)


async def test_collect_then_only_change_detection_then_the_changes(
    sandbox: SandboxServer, client: GuardedClient, database_url: str
) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"  # checkpoints and rows of this test alone
    engine = create_async_engine(database_url)
    sessionmaker = build_sessionmaker(engine)
    request = CollectionRequest(
        provider="fred",
        base_url=sandbox.base_urls()["fred"],
        credential="sandbox",
        datasets=SERIES,
        topic="aurum.ref.fred.series.v1",
        dlq_topic="aurum.ref.fred.series.dlq.v1",
        batch_size=500,
    )
    try:
        first = await collect_provider(
            sessionmaker=sessionmaker,
            collector=FredCollector(),
            client=client,
            request=request,
            tenant_id=tenant,
        )
        assert first.series_fetched == 2 and first.rows_new > 0 and first.rows_rejected == 0
        for series_id in SERIES:
            truth = sandbox.control("GET", f"truth/fred/{series_id}")
            observations = truth["observations"] if isinstance(truth, dict) else truth
            assert len(_stored(database_url, tenant, series_id)) == len(observations)

        second = await collect_provider(
            sessionmaker=sessionmaker,
            collector=FredCollector(),
            client=client,
            request=request,
            tenant_id=tenant,
        )
        assert second.series_fetched == 0 and second.skipped_unchanged == 2
        assert second.rows_new == second.rows_changed == 0
        assert second.requests == 1  # the series/updates feed, nothing else

        sandbox.control("POST", "advance", {"series": [f"fred:{s}" for s in SERIES]})
        third = await collect_provider(
            sessionmaker=sessionmaker,
            collector=FredCollector(),
            client=client,
            request=request,
            tenant_id=tenant,
        )
        assert third.series_fetched == len(SERIES)  # exactly the series the sandbox changed
        assert third.requests == 1 + len(SERIES)  # the feed, then one page each
        assert third.rows_new + third.rows_changed > 0
    finally:
        await engine.dispose()
