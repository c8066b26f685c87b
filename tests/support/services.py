"""Real PostgreSQL, Redis and Kafka-protocol broker for the suite.

By default each is embedded (started here, stopped at the end). `AURUM_DATABASE_URL`,
`AURUM_REDIS_URL` and `AURUM_KAFKA_BOOTSTRAP_SERVERS` point the suite at existing servers
instead: it then creates (and drops) its own database on that PostgreSQL server, and FLUSHES
the Redis database it is given, so give it a scratch one (e.g. `redis://127.0.0.1:6379/15`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis as redis_sync
from psycopg import sql

from app.db.engine import async_url, libpq_url
from app.embedded.ports import free_port
from app.embedded.postgres import start_embedded_postgres
from app.embedded.redis import release_embedded_redis, start_embedded_redis
from app.embedded.tansu import TansuBroker


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def postgres_database(given_url: str | None, workdir: Path) -> Iterator[str]:
    """A fresh, empty database; yields its SQLAlchemy (psycopg) URL."""
    if given_url is None:
        yield start_embedded_postgres(
            workdir / "postgres", database="aurum_test", delete_on_exit=True
        )
        return
    name = f"aurum_test_{uuid.uuid4().hex[:10]}"
    admin = libpq_url(given_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield async_url(_with_database(given_url, name))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def redis_server(given_url: str | None, workdir: Path) -> Iterator[str]:
    if given_url is not None:
        redis_sync.Redis.from_url(given_url).flushdb()
        yield given_url
        return
    directory, port = workdir / "redis", free_port()
    url = start_embedded_redis(directory, port=port)
    try:
        yield url
    finally:
        release_embedded_redis(directory, port)


@contextmanager
def kafka_broker(given: str | None, workdir: Path) -> Iterator[str]:
    if given is not None:
        yield given
        return
    broker = TansuBroker(log_path=workdir / "tansu.log").start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()
