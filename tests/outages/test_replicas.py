"""A declaration made through one replica shows on another replica's health (whose cached
view was fresh) and ratelimits within a second, and so does its resolve: the other replica is
an `aurum serve` process of its own."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.principal import Role
from app.embedded.ports import free_port
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import TEST_JWT_SECRET, bearer
from tests.support.replicas import kill, start_replica
from tests.support.scheduling import provider_file

API = "/v1/admin/external"


async def _seconds_until(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within, "never showed"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def other_replica(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    """Its base URL."""
    port = free_port()
    process: subprocess.Popen[str] = start_replica(
        port,
        AURUM_DATABASE_URL=database_url,
        AURUM_REDIS_URL=redis_url,
        AURUM_REPLICA_ID="replica-two",
        AURUM_JWT_SECRET=TEST_JWT_SECRET,
        AURUM_PROVIDER_CONFIG_PATH=str(provider_file(tmp_path, lambda data: None)),
        AURUM_SCHEDULER_ENABLED="false",
        AURUM_SANDBOX_COLLECT_INTERVAL_SECONDS="0",
        AURUM_ACCESS_LOG="false",
        # The test polls its health faster than the inbound limit's 20 per second allows.
        AURUM_RATE_LIMIT_ENABLED="false",
        AURUM_DATA_DIR=str(tmp_path / "data"),
    )
    yield f"http://127.0.0.1:{port}"
    kill(process)


async def test_a_declaration_shows_on_the_other_replicas_health_within_a_second(
    settings: Settings, other_replica: str
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    viewer = bearer(settings, Role.VIEWER)
    one = settings.model_copy(update={"replica_id": "replica-one"})
    async with (
        client_for(one) as first,
        httpx.AsyncClient(base_url=other_replica, timeout=5) as second,
    ):

        async def outage_on_second() -> dict[str, Any] | None:
            health = (await second.get(f"{API}/health", headers=viewer)).json()
            outage: dict[str, Any] | None = health["providers"]["worldbank"]["outage"]
            return outage

        assert await outage_on_second() is None  # the second replica's view is cached now
        declared = await first.post(
            f"{API}/outages",
            json={"provider": "worldbank", "reason": "WB timeouts"},
            headers=operator,
        )
        assert declared.status_code == 201, declared.text
        outage_id = declared.json()["id"]

        async def shown() -> bool:
            outage = await outage_on_second()
            return outage is not None and outage["id"] == outage_id

        assert await _seconds_until(shown) < 1.0
        limits = (await second.get(f"{API}/ratelimits/worldbank", headers=viewer)).json()
        assert limits["outage"]["reason"] == "WB timeouts"
        metrics = (await second.get("/metrics")).text
        assert 'aurum_external_outage_open{provider="worldbank"} 1.0' in metrics

        resolved = await first.post(
            f"{API}/outages/{outage_id}/resolve",
            json={"force": True, "backfill": False},
            headers=operator,
        )
        assert resolved.status_code == 200, resolved.text

        async def gone() -> bool:
            return await outage_on_second() is None

        assert await _seconds_until(gone) < 1.0
        metrics = (await second.get("/metrics")).text
        assert 'aurum_external_outage_open{provider="worldbank"} 0.0' in metrics
