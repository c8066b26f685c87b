"""Processes sharing one data directory's embedded servers: the last one to exit stops them,
even when another holder was killed with SIGKILL before."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from app.embedded.ports import free_port, port_open
from tests.support.processes import clean_env

# A holder as `aurum serve` is one, without the app: start or attach, then wait for a signal.
HOLDER = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from app.embedded.postgres import start_embedded_postgres
    from app.embedded.redis import start_embedded_redis
    from app.embedded.tansu import start_embedded_kafka

    data, redis_port, kafka_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    start_embedded_postgres(data / "postgres")
    start_embedded_redis(data / "redis", port=redis_port)
    start_embedded_kafka(data / "kafka", port=kafka_port)
    print("ready", flush=True)
    while True:
        time.sleep(1)
    """
)


def _holder(data: Path, redis_port: int, kafka_port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data), str(redis_port), str(kafka_port)],
        env=clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def _servers(data: Path, kafka_port: int) -> list[psutil.Process]:
    """Processes still running a server of `data` (by their command line)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        ours = str(data) in cmdline and ("postgres" in cmdline or "redis-server" in cmdline)
        if ours or f"tcp://127.0.0.1:{kafka_port}" in cmdline:
            found.append(proc)
    return found


def _gone(data: Path, kafka_port: int, timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    left = _servers(data, kafka_port)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _servers(data, kafka_port)
    return left


def test_the_last_holder_stops_every_server_after_another_was_killed(tmp_path: Path) -> None:
    data, redis_port, kafka_port = tmp_path / "data", free_port(), free_port()
    first = _holder(data, redis_port, kafka_port)
    second = _holder(data, redis_port, kafka_port)
    try:
        assert (data / "postgres" / "postmaster.pid").exists()
        assert port_open("127.0.0.1", redis_port)
        assert port_open("127.0.0.1", kafka_port)

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0

        left = _gone(data, kafka_port, timeout=10)
        assert left == [], [" ".join(p.cmdline()) for p in left]
        assert not (data / "postgres" / "postmaster.pid").exists()
        assert not port_open("127.0.0.1", redis_port)
        assert not port_open("127.0.0.1", kafka_port)
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
        for proc in _servers(data, kafka_port):
            proc.kill()
