"""Nothing lost, nothing doubled: a malformed or truncated page fails its batch cleanly and
leaves the checkpoint where it was; a runner killed mid-collection and run again ends with
exactly the sandbox's truth."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
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
from app.resilience.errors import ProviderUnavailable
from app.sandbox.server import SandboxServer
from tests.support.collecting import guarded_client
from tests.support.processes import clean_env


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[GuardedClient]:
    config = ResilienceConfig(
        provider="fred",
        rate=RateConfig(requests_per_second=500, burst=50),
        retry=RetryConfig(base_delay_seconds=0.01, max_delay_seconds=0.05, timeout_seconds=10),
    )
    async with guarded_client(redis_url, config) as client:
        yield client


def _count(database_url: str, tenant: str, table: str = "external_timeseries_obs") -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {table} WHERE tenant_id = %s AND provider = 'fred'",
            (tenant,),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
async def test_a_bad_page_fails_cleanly_and_the_next_run_picks_it_up(
    sandbox: SandboxServer, client: GuardedClient, database_url: str, kind: str
) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(database_url)
    request = CollectionRequest(
        provider="fred",
        base_url=sandbox.base_urls()["fred"],
        credential="sandbox",
        datasets=["UNRATE"],
        topic="aurum.ref.fred.series.v1",
        dlq_topic="aurum.ref.fred.series.dlq.v1",
        batch_size=100,
    )
    run = {
        "sessionmaker": build_sessionmaker(engine),
        "collector": FredCollector(),
        "client": client,
        "request": request,
        "tenant_id": tenant,
    }
    try:
        sandbox.control(
            "POST", "faults",
            {"provider": "fred", "path": "series/observations", "kind": kind, "count": 3},
        )  # fmt: skip
        with pytest.raises(ProviderUnavailable):
            await collect_provider(**run)  # type: ignore[arg-type]
        assert _count(database_url, tenant) == 0
        assert _count(database_url, tenant, "ingest_checkpoints") == 0  # nothing moved
        sandbox.control("DELETE", "faults")
        summary = await collect_provider(**run)  # type: ignore[arg-type]
        truth = sandbox.control("GET", "truth/fred/UNRATE")
        assert summary.rows_new == truth["count"] == _count(database_url, tenant)
    finally:
        sandbox.control("DELETE", "faults")
        await engine.dispose()


def test_a_runner_killed_mid_collection_loses_and_doubles_nothing(
    database_url: str, redis_url: str
) -> None:
    tenant = f"kill{uuid.uuid4().hex[:6]}"
    size = 80_000  # ends today: BULK series longer than FRED's 1776 start run into the future
    env = clean_env(
        AURUM_DATABASE_URL=database_url,
        AURUM_REDIS_URL=redis_url,
        AURUM_TENANT_ID=tenant,
        AURUM_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "app.runner", "--providers", "fred"]
    command += ["--datasets", f"BULK{size}"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _count(database_url, tenant) == 0:
        time.sleep(0.1)
    time.sleep(0.5)  # well inside the collection: some batches committed, most not
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    partial = _count(database_url, tenant)
    assert 0 < partial < size, "the kill did not land mid-collection"
    assert _count(database_url, tenant, "ingest_checkpoints") == 0  # the series never finished

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _count(database_url, tenant) == size  # every observation, none twice (primary key)
    with psycopg.connect(libpq_url(database_url)) as conn:
        outbox = conn.execute(
            "SELECT count(*), count(DISTINCT (k.payload->>'series_id', o->>'obs_date')) "
            "FROM kafka_outbox AS k, json_array_elements(k.payload->'observations') AS o "
            "WHERE k.payload->>'tenant_id' = %s",
            (tenant,),
        ).fetchone()
    assert outbox == (size, size)  # each observation published once across both runs
