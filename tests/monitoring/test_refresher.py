"""Every series the alerts read is exported from the start of every replica, and the gauges
derived from PostgreSQL and Redis (outbox backlog, pauses, last success, quality, cost) are kept
current without a job run or an API call (app/monitoring/refresher.py)."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from app.db.engine import libpq_url
from app.monitoring.metrics import EXTERNAL_DATA_LAST_SUCCESS, JOB_AUTO_PAUSED
from app.settings import Settings
from tests.support.apps import client_for


def _value(body: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The sample `name{labels}` in an exposition body (labels in any order), or None."""
    for line in body.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if found == (labels or {}):
            return float(match[3])
    return None


async def _metrics_until(
    client: httpx.AsyncClient, ready: Callable[[str], bool], seconds: float = 10.0
) -> str:
    """/metrics once `ready(body)` holds (the refresher's first pass runs in the background),
    else the last body."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        body = (await client.get("/metrics")).text
        if ready(body) or asyncio.get_running_loop().time() > deadline:
            return body
        await asyncio.sleep(0.1)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_refresh_seconds": 0.2})


async def test_every_series_an_alert_reads_exists_at_start(fast: Settings) -> None:
    # Counters are per process: earlier tests may have counted; the point is that they exist.
    async with client_for(fast) as client:
        body = await _metrics_until(
            client, lambda b: _value(b, "aurum_external_cost_usd", {"provider": "eia"}) is not None
        )
    jobs = ("ingest.eia", "ingest.eia.bulk", "ingest.fred", "ingest.noaa", "ingest.worldbank")
    for job_id in jobs:
        # Exists (0 here, or what an earlier test of this process counted).
        assert _value(body, "aurum_job_runs_abandoned_total", {"job_id": job_id}) is not None
        # 0, or 1 where an earlier test of the session left an automatic pause in PostgreSQL.
        assert _value(body, "aurum_job_auto_paused", {"job_id": job_id}) in {0, 1}, job_id
    for provider in ("eia", "fred", "noaa", "worldbank"):
        for outcome in ("success", "retryable", "throttled", "permanent"):
            labels = {"provider": provider, "outcome": outcome}
            assert _value(body, "aurum_external_requests_total", labels) is not None, labels
        labels = {"provider": provider}
        assert _value(body, "aurum_external_circuit_breaker_refused_total", labels) is not None
        assert _value(body, "aurum_external_cost_usd", labels) is not None, provider
        count = "aurum_external_request_duration_seconds_count"
        assert _value(body, count, labels) is not None, provider
    # The provider file's quota alert levels, for one rule serving every provider.
    assert _value(body, "aurum_external_quota_warn_ratio", {"provider": "eia"}) == 0.70
    assert _value(body, "aurum_external_quota_critical_ratio", {"provider": "eia"}) == 0.85
    assert _value(body, "aurum_external_quota_warn_ratio", {"provider": "fred"}) == 0.75
    assert _value(body, "aurum_external_quota_critical_ratio", {"provider": "fred"}) == 0.90
    # Cost without anyone calling GET /costs.
    assert (_value(body, "aurum_external_cost_budget_usd", {"provider": "fred"}) or 0) > 0


@pytest.fixture
def unsent_rows(database_url: str) -> Iterator[list[int]]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        rows = conn.execute(
            "INSERT INTO kafka_outbox (topic, key, payload, headers, created_at) "
            "SELECT 'aurum.test.backlog', 'k' || g, '{}', '{}', now() - interval '20 minutes' "
            "FROM generate_series(1, 300) g RETURNING id"
        ).fetchall()
    ids = [row[0] for row in rows]
    yield ids
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("DELETE FROM kafka_outbox WHERE id = ANY(%s)", (ids,))


async def test_outbox_backlog_is_exported_with_kafka_off(
    fast: Settings, unsent_rows: list[int]
) -> None:
    assert fast.kafka_bootstrap_servers is None
    async with client_for(fast) as client:
        body = await _metrics_until(
            client, lambda b: (_value(b, "aurum_outbox_pending") or 0) >= len(unsent_rows)
        )
    assert (_value(body, "aurum_outbox_pending") or 0) >= len(unsent_rows)
    assert (_value(body, "aurum_outbox_lag_seconds") or 0) >= 20 * 60


@pytest.fixture
def history(database_url: str) -> Iterator[dict[str, datetime]]:
    """What a previous leader left in PostgreSQL: a succeeded FRED run that found DGS10
    current, a checkpoint DEXUSEU moved, FRED's updates-feed marker, an automatic pause."""
    now = datetime.now(UTC).replace(microsecond=0)
    run_at, checkpoint_at = now - timedelta(hours=2), now - timedelta(hours=3)
    tenant = "default"
    run_id = uuid.uuid4()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO job_runs (id, job_id, provider, trigger, status, started_at, "
            "finished_at, progress, created_at) VALUES (%s, 'ingest.fred', 'fred', 'scheduled', "
            "'succeeded', %s, %s, %s, %s)",
            (run_id, run_at, run_at, '{"DGS10": {"status": "done", "rows": 0}, "_mode": "live"}',
             run_at),
        )  # fmt: skip
        for series_id in ("DEXUSEU", "__series_updates__"):
            conn.execute(
                "INSERT INTO ingest_checkpoints (tenant_id, provider, series_id, cursor, "
                "updated_at) VALUES (%s, 'fred', %s, '{}', %s) ON CONFLICT (tenant_id, provider, "
                "series_id) DO UPDATE SET updated_at = excluded.updated_at",
                (tenant, series_id, checkpoint_at),
            )
        conn.execute(
            "INSERT INTO job_pauses (job_id, paused_by, reason, automatic) "
            "VALUES ('ingest.noaa', 'system', 'failed 5 times in a row', true) "
            "ON CONFLICT (job_id) DO UPDATE SET automatic = true"
        )
    yield {"DGS10": run_at, "DEXUSEU": checkpoint_at}
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("DELETE FROM job_runs WHERE id = %s", (run_id,))
        conn.execute("DELETE FROM job_pauses WHERE job_id = 'ingest.noaa'")


async def test_a_fresh_process_restores_last_success_and_pauses_from_postgres(
    fast: Settings, history: dict[str, datetime]
) -> None:
    # A fresh process: nothing set in this one yet (earlier tests share the registry).
    EXTERNAL_DATA_LAST_SUCCESS.clear()
    JOB_AUTO_PAUSED.clear()

    def restored(body: str) -> bool:
        return all(
            _value(body, "aurum_external_data_last_success_timestamp",
                   {"provider": "fred", "dataset": series_id}) is not None
            for series_id in history
        ) and _value(body, "aurum_job_auto_paused", {"job_id": "ingest.noaa"}) == 1  # fmt: skip

    async with client_for(fast) as client:
        body = await _metrics_until(client, restored)
    for series_id, at in history.items():
        labels = {"provider": "fred", "dataset": series_id}
        value = _value(body, "aurum_external_data_last_success_timestamp", labels)
        # At least the history's time (other tests of the session may have collected since).
        assert value is not None and value >= at.timestamp(), (series_id, value)
    assert _value(body, "aurum_job_auto_paused", {"job_id": "ingest.noaa"}) == 1
    assert _value(body, "aurum_job_auto_paused", {"job_id": "ingest.fred"}) == 0
    # FRED's updates-feed marker is collector state, not a dataset: never stale, never shown.
    assert "__series_updates__" not in body
