"""Request heads over AURUM_MAX_HEADER_BYTES get 431 from the real server (uvicorn, as
`aurum serve` runs it) while they are being read: the ASGI test client bypasses the HTTP
parser, so these tests talk to a server process over TCP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from app.embedded.ports import free_port, port_open
from tests.support.processes import clean_env
from tests.support.raw_http import send_head

LIMIT = 16_384
_SERVER = f"""
from app.cli.serving import run_server

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"ok"}})

run_server(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), max_header_bytes={LIMIT})
"""


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(port)], env=clean_env(), stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", port):
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_head_under_the_limit_is_served(server_port: int) -> None:
    response, _ = send_head(server_port, LIMIT // 2)
    assert response.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("size", [LIMIT * 2, 16 * 1024 * 1024], ids=["just-over", "16MB"])
def test_a_head_over_the_limit_is_431_in_the_error_shape(server_port: int, size: int) -> None:
    started = time.monotonic()
    response, sent = send_head(server_port, size)
    status, _, rest = response.partition(b"\r\n")
    assert status == b"HTTP/1.1 431 Request Header Fields Too Large", response[:200]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    error = json.loads(body)
    assert error["error"] == "headers_too_large"
    assert "AURUM_MAX_HEADER_BYTES" in error["message"]
    assert time.monotonic() - started < 5
    if size > 1024 * 1024:
        assert sent < size  # refused while still arriving, not read whole
