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


async def test_a_stalled_store_costs_concurrent_requests_one_deadline(
    rl_settings: Settings, redis_url: str
) -> None:
    """A stalled store (nothing refused, nothing answered): requests arriving together wait
    for the limiter at most its storage timeout, not a connect, a read and their retries."""
    from tests.support.tcp_proxy import TcpProxy, redis_target

    host, port = redis_target(redis_url)
    proxy = await TcpProxy(host, port).start()
    try:
        settings = rl_settings.model_copy(
            update={
                "rate_limit_storage_url": proxy.url_for(redis_url),
                "rate_limit_storage_timeout_seconds": 0.25,
                "rate_limit_default": "1000/minute",
            }
        )
        app = limited_app(settings)
        async with serving(app), caller(app) as client:
            assert (await client.get(PING)).status_code == 200
            proxy.stall()
            started = asyncio.get_running_loop().time()
            statuses = [r.status_code for r in await asyncio.gather(
                *(client.get(PING) for _ in range(10))
            )]  # fmt: skip
            took = asyncio.get_running_loop().time() - started
        assert statuses == [200] * 10
        assert took < 0.6, f"10 requests during a stall took {took:.2f}s"
    finally:
        await proxy.close()
