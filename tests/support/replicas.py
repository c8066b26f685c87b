"""`aurum serve` replicas as subprocesses, for the tests that SIGKILL one."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from tests.support.processes import clean_env


def start_replica(port: int, **env: str) -> subprocess.Popen[str]:
    """`python -m app serve` with exactly `env` as its AURUM_* settings (plus AURUM_PORT),
    returned once `/ready` answers 200 (60 s at most). Kafka is off unless `env` says
    otherwise: the replicas share the suite's database, whose outbox an embedded broker would
    re-send, and a fixed broker port would collide with any other `aurum serve` here."""
    env.setdefault("AURUM_KAFKA_ENABLED", "false")
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve"],
        env=clean_env(AURUM_PORT=str(port), **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"replica on port {port} was not ready within 60 s")


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
