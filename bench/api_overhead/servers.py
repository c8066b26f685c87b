"""The two servers under test, each a subprocess with one uvicorn worker on 127.0.0.1:

(a) the bare FastAPI app (`bench.api_overhead.bare_app`);
(b) the real app, started as `python -m app serve` exactly as in production, with an API key,
    rate limiting counted in Redis (limits far above the load) and metrics.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.embedded.ports import free_port
from app.settings import ENV_PREFIX, Settings
from bench.api_overhead.dependencies import BenchError, Dependencies
from bench.api_overhead.report import progress

HOST = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
# Every limit of the shipped rate-limit configuration, raised to this amount: each request is
# still counted in Redis (one round-trip per limit, as in production), none is refused.
UNREACHABLE_LIMIT = 100_000_000
RATE_LIMIT_KEY_PREFIX = "aurum:bench:rl"


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> Response:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return Response(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            body=response.read(),
        )
    finally:
        connection.close()


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    """The inherited environment without any AURUM_* variable, plus `extra`: the servers run
    with exactly the settings the benchmark chooses and the service's defaults otherwise."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    return {**inherited, **extra}


def _unreachable(limits_text: str) -> str:
    """The same limits (same windows, so the same Redis round-trips) with amounts that the
    load never reaches."""
    from limits import parse_many

    return ";".join(
        f"{UNREACHABLE_LIMIT}/{item.multiples} {item.GRANULARITY.name}"
        for item in parse_many(limits_text)
    )


def rate_limit_env() -> dict[str, str]:
    """AURUM_RATE_LIMIT_* for server (b): on, in Redis, the shipped defaults made unreachable."""
    fields = Settings.model_fields
    default = fields["rate_limit_default"].default if "rate_limit_default" in fields else None
    rules = fields["rate_limit_rules"].default if "rate_limit_rules" in fields else {}
    return {
        "AURUM_RATE_LIMIT_ENABLED": "true",
        "AURUM_RATE_LIMIT_DEFAULT": _unreachable(default) if default else "100000000/minute",
        "AURUM_RATE_LIMIT_RULES": json.dumps(
            {prefix: _unreachable(text) for prefix, text in rules.items()}
        ),
        "AURUM_RATE_LIMIT_KEY_PREFIX": RATE_LIMIT_KEY_PREFIX,
    }


def _wait_until_serving(server: Server, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(
                f"server {server.name} exited with code {server.process.returncode}; "
                f"its log ends with:\n{server.log_tail()}"
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            http_get(server.port, path)
            return
        time.sleep(0.1)
    raise BenchError(
        f"server {server.name} did not answer within {START_TIMEOUT_SECONDS:.0f} s; "
        f"its log ends with:\n{server.log_tail()}"
    )


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@contextlib.contextmanager
def _spawn(
    name: str, command: list[str], *, cwd: Path, env: dict[str, str], log_path: Path, port: int
) -> Iterator[Server]:
    with open(log_path, "ab") as log:
        # A session of its own: Ctrl-C reaches only the benchmark, which then stops the
        # servers in order (server first, then the databases it is connected to).
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        yield Server(name=name, port=port, process=process, log_path=log_path)
    finally:
        stop_process(process)


@contextlib.contextmanager
def real_server(
    workdir: Path, deps: Dependencies, overrides: dict[str, str] | None = None, label: str = "b"
) -> Iterator[Server]:
    """`label` names the server in progress lines and its log file (several real servers may
    run side by side: bench/flag_propagation starts three)."""
    port = free_port()
    env = _child_env(
        {
            "AURUM_HOST": HOST,
            "AURUM_PORT": str(port),
            "AURUM_DATABASE_URL": deps.database_url,
            "AURUM_REDIS_URL": deps.redis_url,
            "AURUM_MIGRATE_ON_START": "false",
            # The benchmark's database is shared by every server it starts: an embedded broker
            # per server would re-send that database's outbox. The measured paths need no Kafka.
            "AURUM_KAFKA_ENABLED": "false",
            "AURUM_JWT_SECRET": secrets.token_urlsafe(36),  # 48 characters
            "AURUM_DATA_DIR": str(workdir / "data"),
            # No collection at start: that is `make run`'s sandbox demo (it would collect and
            # validate all four providers inside the measured window). Live replicas collect on
            # their schedules; the scheduler, leader election and relay still run.
            "AURUM_SANDBOX_COLLECT_INTERVAL_SECONDS": "0",
            **rate_limit_env(),
            **(overrides or {}),
        }
    )
    progress(f"starting the real app ({label}) on {HOST}:{port}")
    # Run from the temporary directory, so no `.env` of the working tree is read.
    with _spawn(
        f"({label}) real app",
        [sys.executable, "-m", "app", "serve"],
        cwd=workdir,
        env=env,
        log_path=workdir / f"server-{label}.log",
        port=port,
    ) as server:
        _wait_until_serving(server, "/health")
        yield server


@contextlib.contextmanager
def bare_server(workdir: Path, path: str, body: bytes) -> Iterator[Server]:
    port = free_port()
    body_file = workdir / "bare-body.json"
    body_file.write_bytes(body)
    progress(f"starting the bare app (a) on {HOST}:{port}")
    command = [sys.executable, "-m", "bench.api_overhead.bare_app", "--host", HOST]
    command += ["--port", str(port), "--path", path, "--body-file", str(body_file)]
    with _spawn(
        "(a) bare app",
        command,
        cwd=PROJECT_ROOT,
        env=_child_env({}),
        log_path=workdir / "server-a.log",
        port=port,
    ) as server:
        _wait_until_serving(server, path)
        yield server


def verify_real(server: Server, path: str, api_key: str) -> tuple[bytes, list[str]]:
    """The body (b) answers on `path` with the key; and warnings. Raises BenchError unless it
    answers 200 with the key and 401 without it."""
    with_key = http_get(server.port, path, {"X-API-Key": api_key})
    if with_key.status != 200:
        raise BenchError(
            f"(b) answered {with_key.status} on GET {path} with the admin key: "
            f"{with_key.body[:300]!r}"
        )
    without_key = http_get(server.port, path)
    if without_key.status != 401:
        raise BenchError(f"(b) answered {without_key.status} on GET {path} without a key")
    warnings = []
    if "ratelimit-limit" not in with_key.headers:
        warnings.append(
            "(b) sent no RateLimit-Limit header: rate limiting is not active, so (b) is "
            "measured without it"
        )
    content_type = with_key.headers.get("content-type", "")
    if content_type != "application/json":
        warnings.append(f"(b) answers content-type {content_type!r}; (a) sends application/json")
    return with_key.body, warnings


def verify_bare(server: Server, path: str, body: bytes) -> None:
    response = http_get(server.port, path)
    if response.status != 200 or response.body != body:
        raise BenchError(
            f"(a) answered {response.status} {response.body[:200]!r}; expected 200 {body!r}"
        )
