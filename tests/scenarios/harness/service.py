"""`python -m app serve` as a subprocess on the embedded default (its own data directory,
port and Redis port), and a replica set of several sharing one data directory."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from app.embedded.ports import free_port
from tests.scenarios.harness.api import Api
from tests.scenarios.harness.processes import Fatal, ManagedProcess, kill_servers_in, wait_until
from tests.scenarios.harness.providers import FAKE_CREDENTIALS
from tests.support.processes import clean_env

# Small intervals so that each behaviour shows within seconds; everything else is the default.
FAST_SETTINGS = {
    "AURUM_SCHEDULER_SYNC_SECONDS": "0.2",
    "AURUM_LEADER_POLL_SECONDS": "0.3",
    "AURUM_RUN_HEARTBEAT_SECONDS": "1",
    "AURUM_FLAGS_RECONCILE_SECONDS": "0.5",
    "AURUM_ACCESS_LOG": "false",
    # The scenarios poll hard; the inbound limiter is not what they test.
    "AURUM_RATE_LIMIT_DEFAULT": "100000/minute",
    "AURUM_RATE_LIMIT_RULES": '{"/v1/external/": "100000/hour"}',
}


def live_env(provider_file: Path, kafka_bootstrap: str | None) -> dict[str, str]:
    """Settings of a service whose live providers are the sandbox the file points at."""
    env = {
        "AURUM_PROVIDER_MODE": "live",
        "AURUM_PROVIDER_CONFIG_PATH": str(provider_file),
        **FAKE_CREDENTIALS,
    }
    if kafka_bootstrap:
        env["AURUM_KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    return env


class ServiceProcess:
    """One `serve` process. `env` adds or overrides settings (AURUM_*)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        redis_port: int,
        replica_id: str,
        env: dict[str, str],
        log_dir: Path,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.redis_port = redis_port
        self.replica_id = replica_id
        self.env = clean_env(
            AURUM_DATA_DIR=str(data_dir),
            AURUM_PORT=str(self.port),
            AURUM_EMBEDDED_REDIS_PORT=str(redis_port),
            AURUM_REPLICA_ID=replica_id,
            **FAST_SETTINGS,
            **env,
        )
        self.log_path = log_dir / f"{replica_id}.log"
        self.proc: ManagedProcess | None = None
        self._api: Api | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> ServiceProcess:
        self.proc = ManagedProcess(
            self.replica_id, [sys.executable, "-m", "app", "serve"], self.env, self.log_path
        )
        wait_until(self._ready, timeout=timeout, what=f"{self.replica_id} to be ready")
        return self

    def _ready(self) -> bool:
        if self.proc is None or not self.proc.alive:
            tail = self.proc.log_tail() if self.proc else ""
            raise Fatal(f"{self.replica_id} exited:\n{tail}")
        try:
            return httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive

    @property
    def api(self) -> Api:
        """An admin client (the bootstrap key the embedded default wrote)."""
        if self._api is None:
            key = (self.data_dir / "bootstrap-admin-key").read_text().strip()
            self._api = Api(self.url, key)
        return self._api

    def kill(self) -> None:
        """SIGKILL: no goodbye, nothing released."""
        if self.proc is not None:
            self.proc.kill()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, as Kubernetes stops a pod; the exit code."""
        assert self.proc is not None
        self.proc.signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """Teardown: SIGTERM (the embedded servers stop with the last holder), SIGKILL
        after 20 s; then anything still running out of the data directory is killed."""
        if self._api is not None:
            self._api.close()
        if self.proc is not None and self.proc.alive:
            self.proc.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
            self.proc.kill()

    # --- the embedded servers, for fault injection and verification only ----------------

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Verification only: a query on the embedded PostgreSQL's socket."""
        url = f"postgresql://postgres@/aurum?host={self.pgdata}"
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []


class ReplicaSet:
    """`count` serve processes on one data directory (the first starts the embedded servers,
    the others attach to them)."""

    def __init__(self, data_dir: Path, count: int, env: dict[str, str], log_dir: Path) -> None:
        redis_port = free_port()
        # Where the embedded default runs a Kafka broker too, all replicas share it.
        env = {"AURUM_EMBEDDED_KAFKA_PORT": str(free_port()), **env}
        self.replicas = [
            ServiceProcess(
                data_dir,
                redis_port=redis_port,
                replica_id=f"replica-{i + 1}",
                env=env,
                log_dir=log_dir,
            )
            for i in range(count)
        ]

    def start(self) -> ReplicaSet:
        self.replicas[0].start()
        for replica in self.replicas[1:]:
            replica.start()
        return self

    def alive(self) -> list[ServiceProcess]:
        return [r for r in self.replicas if r.alive]

    def by_id(self, replica_id: str) -> ServiceProcess:
        return next(r for r in self.replicas if r.replica_id == replica_id)

    def leader(self, timeout: float = 30) -> ServiceProcess:
        """The replica that leads the scheduler, as `/ready` reports it on a live one."""

        def find() -> ServiceProcess | None:
            for replica in self.alive():
                try:
                    body = httpx.get(f"{replica.url}/ready", timeout=2).json()
                except (httpx.HTTPError, ValueError):
                    continue
                name = (body.get("scheduler") or {}).get("leader")
                if name and self.by_id(name).alive:
                    return self.by_id(name)
            return None

        found = wait_until(find, timeout=timeout, what="a live scheduler leader")
        assert found is not None
        return found

    def close(self) -> None:
        for replica in self.replicas:
            replica.close()
        kill_servers_in(self.replicas[0].data_dir)


def elapsed(since: float) -> float:
    return round(time.monotonic() - since, 2)
