"""Subprocesses a scenario starts and must end, their logs, and the machine's processes as
`/proc` shows them (signals to the embedded servers, checks that they stopped)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Every process a scenario started and has not reaped yet: the conftest attaches their log
# tails to a failing test's report and kills whatever a fixture left behind.
LIVE: list[ManagedProcess] = []
# Every process started, by the test module that was running (`OWNER`), killed or not.
STARTED: dict[str, list[ManagedProcess]] = {}
OWNER = ""
NOISE = '"logger":"apscheduler.executors.default"'


class ManagedProcess:
    """A child with its output in a log file; `kill()` is safe to call any number of times."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in _reaped
        self.process = subprocess.Popen(
            argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        LIVE.append(self)
        STARTED.setdefault(OWNER, []).append(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._reaped()
        return code

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._reaped()

    def _reaped(self) -> None:
        if self.process.poll() is not None:
            self._log.close()
            with contextlib.suppress(ValueError):
                LIVE.remove(self)

    def log_tail(self, lines: int = 60) -> str:
        """The last `lines` lines, without APScheduler's line per job execution."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if NOISE not in line]
        return "\n".join(kept[-lines:])


class Fatal(Exception):
    """Raised by a poll when waiting longer cannot help (the process waited for exited)."""


def wait_until(check: Callable[[], T], *, timeout: float, what: str, every: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; AssertionError naming `what` at the
    deadline, with the last value (or exception) seen. `Fatal` ends the wait at once."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = check()
        except Fatal:
            raise
        except Exception as exc:
            value, last = None, repr(exc)
        else:
            last = value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last}")
        time.sleep(every)


# --- /proc ------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def children(pid: int) -> list[int]:
    return [p for p in all_pids() if _parent(p) == pid]


def processes_using(directory: Path, exclude: set[int] | None = None) -> dict[int, str]:
    """Live processes whose command line or working directory lies inside `directory` (the
    embedded servers of a data directory), pid -> command line."""
    root = str(directory.resolve())
    found: dict[int, str] = {}
    for pid in all_pids():
        if (exclude and pid in exclude) or pid == os.getpid() or not pid_alive(pid):
            continue
        argv = _cmdline(pid)
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
        if cwd.startswith(root) or any(root in arg for arg in argv):
            found[pid] = " ".join(argv)
    for pid_file in Path(root).rglob("*.pid"):  # servers that name neither (a Kafka broker)
        listed = _pid_in(pid_file)
        if listed is None or listed in found or (exclude and listed in exclude):
            continue
        if pid_alive(listed):
            found[listed] = " ".join(_cmdline(listed)) + f" (pid in {pid_file.name})"
    return found


def _pid_in(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def redis_server_pid(directory: Path) -> int:
    """The embedded redis-server serving `directory` (it works in its `--dir`; it rewrites
    its command line to `redis-server host:port`)."""
    target = str(directory.resolve())
    for pid in all_pids():
        argv = _cmdline(pid)
        if not argv or "redis-server" not in argv[0] or not pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/cwd") == target:
                return pid
    raise LookupError(f"no redis-server working in {target}")


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def postgres_pids(pgdata: Path) -> list[int]:
    """The postmaster of `pgdata` and every backend and helper it forked."""
    master = postmaster_pid(pgdata)
    return [master, *children(master)]


def kill_servers_in(directory: Path) -> None:
    """SIGKILL whatever still runs out of `directory` (teardown: embedded servers that the
    service under test failed to stop, stopped ones included)."""
    pids = list(processes_using(directory))
    send(pids, signal.SIGCONT)
    send(pids, signal.SIGKILL)


def send(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
