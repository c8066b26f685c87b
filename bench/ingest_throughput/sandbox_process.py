"""The provider sandbox in a process of its own (`python -m app.sandbox`), as a real provider
is on another machine: serving 77,000-row pages is the provider's work, and inside the
benchmark's process it would take the interpreter from the pipeline being measured."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.embedded.ports import free_port, wait_for_port
from app.sandbox.control import BASE_PATHS

HOST = "127.0.0.1"


@dataclass(frozen=True)
class SandboxProcess:
    url: str

    def base_url(self, provider: str) -> str:
        return self.url + BASE_PATHS[provider]

    def generate(self, provider: str, keys: list[str]) -> int:
        """Make up the series' data before the clock starts; returns their observations."""
        series = [f"{provider}:{key}" for key in keys]
        answer = httpx.post(f"{self.url}/_sandbox/generate", json={"series": series}, timeout=600)
        answer.raise_for_status()
        return int(answer.json()["observations"])


@contextlib.contextmanager
def sandbox_process(log_path: Path) -> Iterator[SandboxProcess]:
    """Start the sandbox (throttles off) on a free loopback port; stop it on exit."""
    port = free_port(HOST)
    command = [sys.executable, "-m", "app.sandbox", "--host", HOST, "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, "--no-limits"], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        wait_for_port(HOST, port, timeout=30, what=f"provider sandbox (log: {log_path})")
        yield SandboxProcess(f"http://{HOST}:{port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
