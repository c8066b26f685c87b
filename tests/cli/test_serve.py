"""`aurum serve` as an operator runs it: embedded default, clean stop, data kept, and one-line
errors (exit code 1, no stack trace) when a setting or the database is wrong."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis as redis_sync
from confluent_kafka import Consumer, TopicPartition

from app.embedded.ports import free_port, port_open
from tests.support.processes import clean_env
from tests.support.raw_http import send_head


def _run_serve(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_unreachable_database_is_one_line_naming_the_setting() -> None:
    url = f"postgresql://aurum:s3cret-pw@127.0.0.1:{free_port()}/aurum"
    result = _run_serve(clean_env(AURUM_DATABASE_URL=url, AURUM_PORT=str(free_port())))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aurum: error:")
    assert "AURUM_DATABASE_URL" in lines[0]
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_bad_setting_stops_the_service_naming_it() -> None:
    result = _run_serve(clean_env(AURUM_PORT="eighty"))
    assert result.returncode == 1
    assert "AURUM_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_command_upgrades_the_given_database(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env=clean_env(AURUM_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "head" in result.stdout


class _Service:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.redis_port = free_port()
        self.kafka_port = free_port()
        self.data_dir = data_dir
        self.env = env
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = clean_env(
            AURUM_DATA_DIR=str(self.data_dir),
            AURUM_PORT=str(self.port),
            AURUM_EMBEDDED_REDIS_PORT=str(self.redis_port),
            AURUM_EMBEDDED_KAFKA_PORT=str(self.kafka_port),
            **self.env,
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read()  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise AssertionError("service did not become ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=30)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[_Service]:
    svc = _Service(tmp_path / "data")
    yield svc
    if svc.process is not None and svc.process.poll() is None:
        svc.process.kill()


def _pg(data_dir: Path) -> psycopg.Connection:
    return psycopg.connect(f"postgresql://postgres@/aurum?host={data_dir / 'postgres'}")


def _count(data_dir: Path, sql: str) -> int:
    with _pg(data_dir) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s"
        time.sleep(0.25)


def _event_ids(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> set[str]:
    """The event ids of the messages on `topic`, read from the beginning until `expected`
    distinct ones arrived (or the timeout)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "newcomer", "enable.auto.commit": False}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(seen) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.add(json.loads(message.value())["event_id"])
        return seen
    finally:
        consumer.close()


def test_embedded_default_serves_stops_cleanly_and_keeps_data(service: _Service) -> None:
    service.start()
    ready = httpx.get(f"{service.url}/ready").json()
    assert ready["checks"]["postgres"] == {**ready["checks"]["postgres"], "embedded": True}
    assert ready["checks"]["redis"]["embedded"] is True
    key_file = service.data_dir / "bootstrap-admin-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    admin = key_file.read_text().strip()
    who = httpx.get(f"{service.url}/v1/admin/whoami", headers={"X-API-Key": admin})
    assert who.json()["role"] == "admin"
    # The HTTP edge as clients meet it (an in-process ASGI client bypasses uvicorn's parser).
    too_big, _ = send_head(service.port, 100_000, path="/health")  # over the 64 KiB default
    assert too_big.startswith(b"HTTP/1.1 431"), too_big[:100]
    moved = httpx.get(
        f"{service.url}/v1/admin/whoami/", headers={"X-API-Key": admin, "Host": "evil.example"}
    )
    assert moved.status_code == 307 and moved.headers["location"] == "/v1/admin/whoami"
    with _pg(service.data_dir) as conn:
        conn.execute(
            "INSERT INTO audit_log (principal, role, action, target) "
            "VALUES ('test', 'admin', 'marker', 'restart-survivor')"
        )
    redis_sync.Redis(port=service.redis_port).set("aurum:test:marker", "kept")

    # With no provider keys the service collects from the sandbox: data within a minute.
    deadline = time.monotonic() + 60
    observations = 0
    while time.monotonic() < deadline and observations == 0:
        with _pg(service.data_dir) as conn:
            row = conn.execute("SELECT count(*) FROM external_timeseries_obs").fetchone()
            observations = row[0] if row else 0
        time.sleep(0.5)
    assert observations > 0, "no sandbox data arrived within a minute of start"

    assert service.stop(signal.SIGINT) == 0  # Ctrl-C
    assert not (service.data_dir / "postgres" / "postmaster.pid").exists()
    assert not port_open("127.0.0.1", service.redis_port)

    service.start()  # the next `make run` reuses the data
    with _pg(service.data_dir) as conn:
        row = conn.execute("SELECT count(*) FROM audit_log WHERE target = 'restart-survivor'")
        assert row.fetchone() == (1,)
    assert redis_sync.Redis(port=service.redis_port).get("aurum:test:marker") == b"kept"
    assert key_file.read_text().strip() == admin  # created once, on the first start only
    assert service.stop(signal.SIGTERM) == 0  # what Kubernetes sends


FRED = "aurum.ref.fred.series.v1"
UNSENT = "SELECT count(*) FROM kafka_outbox WHERE sent_at IS NULL"
FRED_MESSAGES = f"SELECT count(*) FROM kafka_outbox WHERE topic = '{FRED}'"


def test_embedded_default_publishes_to_its_own_broker_across_restarts(
    service: _Service,
) -> None:
    service.start()
    kafka = httpx.get(f"{service.url}/ready").json()["checks"]["kafka"]
    assert (kafka["status"], kafka["embedded"]) == ("up", True)
    _wait_for("sandbox data and its messages", lambda: _count(service.data_dir, FRED_MESSAGES) > 0)
    _wait_for("the relay to send every outbox row", lambda: _count(service.data_dir, UNSENT) == 0)
    bootstrap = f"127.0.0.1:{service.kafka_port}"
    published = _count(service.data_dir, FRED_MESSAGES)
    first = _event_ids(bootstrap, FRED, published)
    assert len(first) == published  # a newcomer reads every message from the broker

    assert service.stop(signal.SIGTERM) == 0
    assert not port_open("127.0.0.1", service.kafka_port)  # the broker stopped with it

    service.start()  # a fresh broker: the outbox's retained messages are published again
    _wait_for("the relay to republish", lambda: _count(service.data_dir, UNSENT) == 0)
    # Read every message now on the topic: the restart's own collection may have added some,
    # and partitions interleave, so the first `published` read need not be the old ones.
    now = _count(service.data_dir, FRED_MESSAGES)
    assert _event_ids(bootstrap, FRED, now) >= first  # still there after the restart
    assert service.stop(signal.SIGTERM) == 0


def test_kafka_off_starts_no_broker_and_fills_no_outbox(tmp_path: Path) -> None:
    service = _Service(tmp_path / "data", AURUM_KAFKA_ENABLED="false")
    try:
        service.start()
        kafka = httpx.get(f"{service.url}/ready").json()["checks"]["kafka"]
        assert kafka["status"] == "off" and "AURUM_KAFKA_ENABLED" in kafka["error"]
        assert not port_open("127.0.0.1", service.kafka_port)
        observations = "SELECT count(*) FROM external_timeseries_obs"
        _wait_for("sandbox data", lambda: _count(service.data_dir, observations) > 0)
        assert _count(service.data_dir, "SELECT count(*) FROM kafka_outbox") == 0
        assert service.stop(signal.SIGTERM) == 0
    finally:
        if service.process is not None and service.process.poll() is None:
            service.process.kill()
