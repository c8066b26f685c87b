"""While the limiter's Redis is unreachable, requests are still served and limited in process
memory; /ready says so without failing; the limiter goes back to Redis when it answers."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from prometheus_client import REGISTRY

from app.embedded.ports import free_port, wait_for_port
from app.embedded.redis import redis_server_binary
from app.settings import Settings
from tests.ratelimit.scaffold import PING, caller, limited_app, serving


def _fallbacks() -> float:
    return REGISTRY.get_sample_value("aurum_ratelimit_store_fallback_total") or 0.0


async def test_an_unreachable_store_limits_in_memory_and_degrades_readiness(
    rl_settings: Settings,
) -> None:
    # Only the limiter's store is dead; the app's own Redis (checked by /ready) is fine.
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = rl_settings.model_copy(
        update={"rate_limit_storage_url": dead, "rate_limit_default": "3/minute"}
    )
    app = limited_app(settings)
    before = _fallbacks()
    async with serving(app), caller(app) as client:
        statuses = [(await client.get(PING)).status_code for _ in range(4)]
        ready = await client.get("/ready")
    assert statuses == [200, 200, 200, 429]
    assert _fallbacks() == before + 4
    assert ready.status_code == 200, ready.text
    check = ready.json()["checks"]["ratelimit"]
    assert check["status"] == "degraded"
    assert "unreachable" in check["error"] and "ConnectionError" in check["error"]
    assert ready.json()["checks"]["redis"]["status"] == "up"


async def test_the_fallback_share_divides_limits_by_replicas(rl_settings: Settings) -> None:
    settings = rl_settings.model_copy(
        update={
            "rate_limit_storage_url": f"redis://127.0.0.1:{free_port()}/0",
            "rate_limit_default": "6/minute",
            "rate_limit_replicas": 3,
        }
    )
    app = limited_app(settings)
    async with serving(app), caller(app) as client:
        statuses = [(await client.get(PING)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]  # this replica's share: 6 / 3


async def test_the_limiter_returns_to_redis_when_it_answers(
    rl_settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    settings = rl_settings.model_copy(
        update={"rate_limit_storage_url": f"redis://127.0.0.1:{port}/0"}
    )
    app = limited_app(settings)
    async with serving(app), caller(app) as client:
        await client.get(PING)
        limiter = app.state.rate_limiter
        assert limiter.degraded is not None
        # A throwaway server on the port the limiter was given, without persistence.
        server = subprocess.Popen(
            [
                *(str(redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(tmp_path)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port("127.0.0.1", port, timeout=10, what="test Redis")
            # The background probe runs at most once a second, started by a request.
            for _ in range(30):
                await client.get(PING)
                if limiter.degraded is None:
                    break
                await asyncio.sleep(0.1)
            assert limiter.degraded is None
            ready = await client.get("/ready")
            assert ready.json()["checks"]["ratelimit"]["status"] == "up"
        finally:
            server.terminate()
            server.wait(timeout=10)
