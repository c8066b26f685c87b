"""Suite-wide fixtures: real PostgreSQL (migrated), Redis and a Kafka-protocol broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.db import migrate
from app.sandbox.server import SandboxServer
from app.settings import Environment, LogFormat, Settings
from tests.support.apps import client_for
from tests.support.auth import TEST_JWT_SECRET
from tests.support.services import kafka_broker, postgres_database, redis_server
from tests.support.tcp_proxy import TcpProxy, redis_target


@pytest.fixture(scope="session")
def env_settings() -> Settings:
    """What the environment says (AURUM_* variables), read through the one Settings class."""
    return Settings()


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def database_url(env_settings: Settings, services_dir: Path) -> Iterator[str]:
    with postgres_database(env_settings.database_url, services_dir) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def redis_url(env_settings: Settings, services_dir: Path) -> Iterator[str]:
    with redis_server(env_settings.redis_url, services_dir) as url:
        yield url


@pytest.fixture(scope="session")
def kafka_bootstrap(env_settings: Settings, services_dir: Path) -> Iterator[str]:
    with kafka_broker(env_settings.kafka_bootstrap_servers, services_dir) as servers:
        yield servers


@pytest.fixture
async def redis_proxy(redis_url: str) -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of the suite's Redis, to stall or cut it (tests/support/tcp_proxy)."""
    proxy = await TcpProxy(*redis_target(redis_url)).start()
    yield proxy
    await proxy.close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """The provider sandbox (limits on, as the real APIs), one per test module."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def settings(database_url: str, redis_url: str) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        # No broker connected (tests that publish set the suite's): rows still go to the
        # outbox and wait, as with Kafka unreachable. Kafka off is kafka_enabled=False.
        kafka_bootstrap_servers=None,
        log_format=LogFormat.JSON,
        replica_id="test-replica",
        jwt_secret=TEST_JWT_SECRET,
        # Limits stay on (the real middleware runs) but generous, with fresh counters per test;
        # the rate-limit tests set their own.
        rate_limit_default="100000/minute",
        sandbox_collect_interval_seconds=0,  # tests collect explicitly
        scheduler_enabled=False,  # the scheduler's tests turn it on (tests/jobs)
        rate_limit_key_prefix=f"aurum:rl:test:{uuid.uuid4().hex[:8]}",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings) as http:
        yield http
