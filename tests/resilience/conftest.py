"""Fixtures for the resilience tests. Each owner prefixes its fixtures (`limiter_` for the
outbound limiter and quotas)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from app.embedded.ports import free_port, wait_for_port
from app.embedded.redis import redis_server_binary


@pytest.fixture
async def limiter_redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the suite's Redis, as the service builds it."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def limiter_provider() -> str:
    """A provider name of this test's own: tests share one Redis."""
    return f"p{uuid.uuid4().hex[:8]}"


class SpareRedis:
    """A port with no Redis on it yet; `start()` brings a throwaway server up there."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def client(self) -> Redis:
        return Redis.from_url(self.url, decode_responses=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(str(redis_server_binary()), "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", self.port, timeout=10, what="spare Redis")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def limiter_spare_redis(tmp_path: Path) -> Iterator[SpareRedis]:
    """Redis unreachable until the test starts it (nothing listens on its port before)."""
    spare = SpareRedis(tmp_path)
    yield spare
    spare.stop()


# Circuit breaker tests (test_breaker.py).
@pytest.fixture
def breaker_spare_redis(tmp_path: Path) -> Iterator[SpareRedis]:
    """A throwaway Redis for the breaker's fallback tests; the test starts it."""
    spare = SpareRedis(tmp_path)
    yield spare
    spare.stop()
