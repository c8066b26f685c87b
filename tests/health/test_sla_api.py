"""The SLA view: windows, measured values against targets, unknown as null, bad window."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis

from app.auth.principal import Role
from app.resilience import call_log
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.scheduling import sql

SLA = "/v1/admin/external/sla"


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings) as client:
        yield client


async def test_every_window_reports_each_objective_with_met_and_value(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    viewer = bearer(settings, Role.VIEWER)
    for window in ("24h", "7d", "30d"):
        response = await api.get(SLA, params={"window": window}, headers=viewer)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["window"] == window
        assert set(body["overall"]) == {
            "freshness", "request_success_rate", "validation_pass_rate", "cost", "completeness"
        }  # fmt: skip
        fred = body["providers"]["fred"]
        for objective in body["overall"]:
            assert "met" in fred[objective], objective
        assert fred["request_success_rate"]["target"] == 0.98
        assert fred["validation_pass_rate"]["target"] == 0.95
        assert set(fred["datasets"]) == {"DGS10", "DEXUSEU", "UNRATE", "GDP"}
        assert fred["datasets"]["UNRATE"]["frequency"] == "monthly"
        assert fred["datasets"]["DGS10"]["frequency"] == "business_daily"
    alias = await api.get("/sla/external", params={"window": "7d"}, headers=viewer)
    assert alias.status_code == 200


async def test_an_unsupported_window_is_a_422(api: httpx.AsyncClient, settings: Settings) -> None:
    response = await api.get(SLA, params={"window": "1y"}, headers=bearer(settings, Role.VIEWER))
    assert response.status_code == 422
    body = response.json()
    assert "window" in response.text
    assert "24h" in response.text and body["message"]


async def test_request_success_rate_comes_from_the_hourly_counters(
    api: httpx.AsyncClient, settings: Settings, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    keys = call_log.hour_keys("eia", 24)
    await redis.delete(*keys)
    now = datetime.now(UTC).timestamp()
    for _ in range(9):
        await call_log.record_outcome(redis, "eia", success=True, now=now)
    await call_log.record_outcome(redis, "eia", success=False, error="HTTP 500", now=now)
    body = (
        await api.get(SLA, params={"window": "24h"}, headers=bearer(settings, Role.VIEWER))
    ).json()
    rate = body["providers"]["eia"]["request_success_rate"]
    assert rate["value"] == 0.9 and rate["attempts"] == 10
    assert rate["met"] is False
    assert "eia" in body["overall"]["request_success_rate"]["providers_missed"]
    await redis.delete(*keys)
    await redis.aclose()


async def test_freshness_counts_hours_since_the_last_successful_run(
    api: httpx.AsyncClient, settings: Settings, database_url: str
) -> None:
    sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.noaa'")
    finished = datetime.now(UTC) - timedelta(hours=50)
    sql(
        database_url,
        "INSERT INTO job_runs (id, job_id, provider, trigger, status, created_at, started_at, "
        "finished_at, parameters, progress) VALUES (gen_random_uuid(), 'ingest.noaa', 'noaa', "
        "'scheduled', 'succeeded', %s, %s, %s, '{}', '{}')",
        finished, finished, finished,
    )  # fmt: skip
    try:
        body = (
            await api.get(SLA, params={"window": "24h"}, headers=bearer(settings, Role.VIEWER))
        ).json()
        fresh = body["providers"]["noaa"]["freshness"]
        # Every hourly sample of the last 24 h lags more than 24 h: all deadlines missed.
        assert fresh["met"] is False
        assert fresh["deadlines_met_share"] == 0
        assert fresh["lag_p50_seconds"] > 24 * 3600
        health = (
            await api.get("/v1/admin/external/health/noaa", headers=bearer(settings, Role.VIEWER))
        ).json()
        assert health["staleness"]["stale"] is True
        assert health["status"] in {"degraded", "down"}
    finally:
        sql(database_url, "DELETE FROM job_runs WHERE job_id = 'ingest.noaa'")


async def test_warning_only_validation_runs_pass_as_health_says(settings: Settings) -> None:
    """One rule for health and the SLA: a failed warning-severity expectation lowers the
    quality score but does not fail the validation run; an error-severity one does."""
    tenant = f"t{uuid.uuid4().hex[:8]}"
    local = settings.model_copy(update={"tenant_id": tenant, "health_cache_seconds": 0})
    warning = '[{"expectation": "fresh", "severity": "warning"}]'
    error = '[{"expectation": "in_range", "severity": "error"}]'
    now = datetime.now(UTC)
    insert = (
        "INSERT INTO validation_results (id, tenant_id, provider, suite, status, success, "
        "evaluated, successful, unsuccessful, failed_expectations, started_at, finished_at) "
        "VALUES (%s, %s, 'fred', 'fred', 'completed', %s, 4, 3, 1, %s::jsonb, %s, %s)"
    )
    rows = [(False, warning, 3), (False, warning, 2), (True, "[]", 1)]
    for success, failed, hours in rows:
        at = now - timedelta(hours=hours)
        sql(settings.database_url, insert, uuid.uuid4(), tenant, success, failed, at, at)
    # Another tenant's newer failed run is not this tenant's.
    other = f"o{tenant}"
    at = now - timedelta(minutes=10)
    sql(settings.database_url, insert, uuid.uuid4(), other, False, error, at, at)
    try:
        async with client_for(local) as api:
            viewer = bearer(local, Role.VIEWER)
            sla = (await api.get(SLA, params={"window": "24h"}, headers=viewer)).json()
            rate = sla["providers"]["fred"]["validation_pass_rate"]
            assert (rate["value"], rate["met"]) == (1.0, True)
            health = (await api.get("/v1/admin/external/health/fred", headers=viewer)).json()
            assert health["quality"]["failed_error_expectations"] == 0
            assert not any("expectation" in r for r in health["reasons"])

            at = now - timedelta(minutes=30)
            sql(settings.database_url, insert, uuid.uuid4(), tenant, False, error, at, at)
            sla = (await api.get(SLA, params={"window": "24h"}, headers=viewer)).json()
            assert sla["providers"]["fred"]["validation_pass_rate"]["value"] == 0.75
    finally:
        for who in (tenant, other):
            sql(settings.database_url, "DELETE FROM validation_results WHERE tenant_id = %s", who)
