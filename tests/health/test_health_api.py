"""The health view: shape, status derivation from real breaker, quota and call state, the
runbook's Redis status key, the aliases and bad input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from app.auth.principal import Role
from app.resilience import call_log
from app.resilience.quota_windows import windows
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer

HEALTH = "/v1/admin/external/health"
BREAKERS = "/v1/admin/external/circuit-breakers"
PROVIDERS = {"fred", "eia", "noaa", "worldbank"}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings) as client:
        yield client
        operator = bearer(settings, Role.OPERATOR)
        for name in PROVIDERS:  # breaker state lives in the shared Redis
            await client.post(f"{BREAKERS}/{name}/reset", headers=operator)


async def test_health_lists_every_provider_with_the_runbook_fields(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    response = await api.get(HEALTH, headers=bearer(settings, Role.VIEWER))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] in {"healthy", "degraded", "down"}
    assert set(body["providers"]) == PROVIDERS
    fred = body["providers"]["fred"]
    for key in ("enabled", "mode", "status", "reason", "breaker", "last_attempt_at",
                "last_success_at", "last_error", "staleness", "quota",
                "effective_requests_per_second", "last_run", "paused", "quality"):  # fmt: skip
        assert key in fred, key
    assert fred["mode"] in {"live", "sandbox"}
    assert set(fred["quota"]) >= {"daily", "hourly"}
    # No validation results yet is unknown, not failing.
    assert fred["quality"]["status"] in {"unknown", "completed", "errored"}
    assert {"postgres", "redis", "kafka", "scheduler"} <= set(body["dependencies"])
    assert body["dependencies"]["postgres"]["status"] == "up"
    assert body["dependencies"]["postgres"]["latency_ms"] is not None
    alias = await api.get("/health/external", headers=bearer(settings, Role.VIEWER))
    assert alias.status_code == 200
    assert set(alias.json()["providers"]) == PROVIDERS


async def test_health_needs_a_viewer(api: httpx.AsyncClient) -> None:
    assert (await api.get(HEALTH)).status_code == 401
    assert (await api.get("/health/external")).status_code == 401
    assert (await api.get("/v1/admin/external/sla")).status_code == 401


async def test_a_forced_open_breaker_makes_the_provider_down_and_writes_the_status_key(
    api: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    forced = await api.post(
        f"{BREAKERS}/fred/force-open", json={"reason": "test"}, headers=operator
    )
    assert forced.status_code == 200, forced.text
    body = (await api.get(HEALTH, headers=operator)).json()
    fred = body["providers"]["fred"]
    assert fred["status"] == "down"
    assert fred["reason"] == "circuit breaker forced_open"
    assert fred["breaker"]["state"] == "forced_open"
    assert body["status"] in {"degraded", "down"}
    assert "fred" in body["reason"]
    stored = json.loads(await redis.get("external:provider_status:fred") or "{}")
    assert stored["status"] == "down"
    assert stored["reason"] == "circuit breaker forced_open"
    assert stored["updated_at"]

    await api.post(f"{BREAKERS}/fred/reset", headers=operator)
    fred = (await api.get(f"{HEALTH}/fred", headers=operator)).json()
    assert fred["status"] != "down"
    assert [e["to"] for e in fred["breaker_events"][:2]] == ["closed", "forced_open"]
    stored = json.loads(await redis.get("external:provider_status:fred") or "{}")
    assert stored["status"] == fred["status"]


async def test_a_quota_near_its_limit_degrades_the_provider(
    api: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    daily, _ = windows("worldbank")
    hourly = windows("worldbank")[1]
    limits: dict[Any, Any] = {"daily_quota": 100, "hourly_quota": 100}
    await redis.hset("resilience:overrides:worldbank", mapping=limits)
    await redis.set(daily.key, 95)
    await redis.set(hourly.key, 1)
    try:
        # Overrides reach the guards within a second (their refresher).
        resources = api._transport.app.state.resources  # type: ignore[attr-defined]
        await resources.providers.guards.refresh_overrides()
        body = (await api.get(HEALTH, headers=bearer(settings, Role.VIEWER))).json()
        wb = body["providers"]["worldbank"]
        assert wb["status"] == "degraded"
        assert "request quota near its limit" in wb["reasons"]
        assert wb["quota"]["daily"]["used"] == 95
    finally:
        await redis.delete("resilience:overrides:worldbank", daily.key, hourly.key)


async def test_recorded_call_outcomes_show_as_last_success_and_error(
    api: httpx.AsyncClient, settings: Settings, redis: Redis
) -> None:
    await redis.delete(call_log.calls_key("noaa"))
    await call_log.record_outcome(redis, "noaa", success=True)
    await call_log.record_outcome(
        redis, "noaa", success=False, error="HTTP 503: unavailable", http_status=503
    )
    noaa = (await api.get(f"{HEALTH}/noaa", headers=bearer(settings, Role.VIEWER))).json()
    assert noaa["last_success_at"] is not None
    assert noaa["last_error"]["http_status"] == 503
    assert noaa["last_error"]["message"] == "HTTP 503: unavailable"
    assert "recent provider calls failed" in noaa["reasons"]
    assert noaa["status"] in {"degraded", "down"}
    assert isinstance(noaa["recent_runs"], list)
    assert noaa["datasets"]
    await redis.delete(call_log.calls_key("noaa"))


async def test_an_unknown_provider_is_a_404_listing_the_known_ones(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    for path in (f"{HEALTH}/nope", "/health/external/nope"):
        response = await api.get(path, headers=bearer(settings, Role.VIEWER))
        assert response.status_code == 404
        message = response.json()["message"]
        assert "eia, fred, noaa, worldbank" in message
