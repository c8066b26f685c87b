"""Admin reads and `/ready` while a shared dependency is stalled or cut: a real Redis and a
real PostgreSQL behind a TCP proxy (tests/support/tcp_proxy.py) that stops forwarding (a
`kill -STOP`ed server) or closes (a server gone). Every read answers within the request
budget, never a 5xx but the documented 503 of PostgreSQL being unreachable, shows the state
it could not refresh with its age, and everything recovers by itself when the proxy forwards
again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.auth.principal import Role
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.tcp_proxy import TcpProxy, postgres_target

# The request budget the README documents for admin reads during a dependency outage.
BUDGET_SECONDS = 1.0
ADMIN_READS = (
    "/v1/admin/external/health",
    "/v1/admin/external/health/fred",
    "/v1/admin/external/sla",
    "/v1/admin/external/ratelimits",
    "/v1/admin/external/circuit-breakers",
    "/v1/admin/external/costs",
    "/v1/admin/external/jobs",
    "/v1/admin/external/runs",
    "/runtime-config/v1/features",
)


async def timed(
    client: httpx.AsyncClient, path: str, **kwargs: Any
) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path, **kwargs)
    return response, time.perf_counter() - started


async def eventually(check: Any, within: float = 5.0) -> None:
    """Poll `check()` (async, truthy when done) every 0.1 s for at most `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "did not recover in time"
        await asyncio.sleep(0.1)


@pytest.fixture
async def postgres_proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    proxy = await TcpProxy(*postgres_target(database_url)).start()
    yield proxy
    await proxy.close()


async def test_ready_and_admin_reads_during_a_redis_stall(
    settings: Settings, redis_url: str, redis_proxy: TcpProxy
) -> None:
    stalled = settings.model_copy(
        update={
            "redis_url": redis_proxy.url_for(redis_url),
            "rate_limit_storage_url": redis_proxy.url_for(redis_url),
            "health_cache_seconds": 0,  # every read computes its view: no cache hides the stall
        }
    )
    viewer = bearer(settings, Role.VIEWER)
    async with client_for(stalled) as client:
        for path in ADMIN_READS:  # the last-known state each view will fall back on
            response = await client.get(path, headers=viewer)
            assert response.status_code == 200, (path, response.text)
        redis_proxy.stall()

        ready, elapsed = await timed(client, "/ready")
        assert ready.status_code == 200, ready.text
        assert elapsed < BUDGET_SECONDS + settings.ready_check_timeout_seconds
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["redis"]["status"] == "down"
        assert ready.json()["checks"]["postgres"]["status"] == "up"

        for path in ADMIN_READS:
            response, elapsed = await timed(client, path, headers=viewer)
            assert response.status_code == 200, (path, response.text)
            assert elapsed < BUDGET_SECONDS, (path, elapsed)

        health = (await client.get("/v1/admin/external/health", headers=viewer)).json()
        assert health["dependencies"]["redis"]["status"] == "down"
        fred = health["providers"]["fred"]
        assert fred["stale"] is True and fred["as_of"] and fred["age_seconds"] >= 0

        redis_proxy.resume()

        async def recovered() -> bool:
            ready = await client.get("/ready")
            health = (await client.get("/v1/admin/external/health", headers=viewer)).json()
            return bool(
                ready.status_code == 200
                and ready.json()["status"] == "ready"
                and health["dependencies"]["redis"]["status"] == "up"
                and not health["providers"]["fred"].get("stale")
            )

        await eventually(recovered)


async def test_ready_and_admin_reads_with_postgres_unreachable(
    settings: Settings, database_url: str, postgres_proxy: TcpProxy
) -> None:
    cut = settings.model_copy(
        update={"database_url": postgres_proxy.url_for(database_url), "health_cache_seconds": 0}
    )
    viewer = bearer(settings, Role.VIEWER)
    async with client_for(cut) as client:
        for path in ADMIN_READS:
            assert (await client.get(path, headers=viewer)).status_code == 200, path
        await postgres_proxy.close()

        ready, elapsed = await timed(client, "/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["postgres"]["status"] == "down"

        for path in ADMIN_READS:
            response, elapsed = await timed(client, path, headers=viewer)
            assert response.status_code in {200, 503}, (path, response.status_code, response.text)
            assert elapsed < BUDGET_SECONDS, (path, elapsed)
            if response.status_code == 503:
                body = response.json()
                assert body["error"] == "unavailable" and "PostgreSQL" in body["message"]
                assert body["request_id"] == response.headers["x-request-id"]

        await postgres_proxy.start()  # the same port: the pool reconnects by itself

        async def recovered() -> bool:
            ready = await client.get("/ready")
            runs = await client.get("/v1/admin/external/runs", headers=viewer)
            return ready.json().get("status") == "ready" and runs.status_code == 200

        await eventually(recovered)


async def test_ready_and_admin_reads_during_a_postgres_stall(
    settings: Settings, database_url: str, postgres_proxy: TcpProxy
) -> None:
    # A stalled server also stalls the driver's cancellation of a timed-out query: /ready must
    # not wait for it, nor start a second check while the first still hangs.
    stalled = settings.model_copy(
        update={
            "database_url": postgres_proxy.url_for(database_url),
            "health_cache_seconds": 0,
            "ready_check_timeout_seconds": 0.5,
            "admin_read_deadline_seconds": 1.0,
        }
    )
    viewer = bearer(settings, Role.VIEWER)
    async with client_for(stalled) as client:
        for path in ADMIN_READS:
            assert (await client.get(path, headers=viewer)).status_code == 200, path
        postgres_proxy.stall()
        for _ in range(2):  # the second finds the first check still pending
            async with asyncio.timeout(5):
                ready, elapsed = await timed(client, "/ready")
            assert ready.status_code == 200, ready.text
            assert elapsed < BUDGET_SECONDS, elapsed
            assert ready.json()["checks"]["postgres"]["status"] == "down"
            assert ready.json()["checks"]["redis"]["status"] == "up"
        for path in ADMIN_READS:
            response, elapsed = await timed(client, path, headers=viewer)
            assert response.status_code in {200, 503}, (path, response.text)
            assert elapsed < stalled.admin_read_deadline_seconds + 0.5, (path, elapsed)
            if response.status_code == 503:
                assert response.json()["error"] == "unavailable"
                assert response.json()["request_id"] == response.headers["x-request-id"]
        postgres_proxy.resume()

        async def recovered() -> bool:
            ready = await client.get("/ready")
            runs = await client.get("/v1/admin/external/runs", headers=viewer)
            return ready.json().get("status") == "ready" and runs.status_code == 200

        await eventually(recovered, within=10)
