"""Server (b)'s real dependencies: PostgreSQL and Redis (embedded in the run's temporary
directory unless AURUM_DATABASE_URL / AURUM_REDIS_URL are set), the migrated schema, and an
admin API key created through the real key service."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit.service import AuditContext
from app.auth import api_keys
from app.auth.principal import SYSTEM, Role
from app.bootstrap import check_database, check_redis, redact
from app.db import migrate
from app.db.engine import async_url, build_sessionmaker
from app.embedded.ports import free_port
from app.embedded.postgres import start_embedded_postgres
from app.embedded.redis import release_embedded_redis, start_embedded_redis
from app.settings import Settings
from bench.api_overhead.report import progress

KEY_NAME = "bench-api-overhead"


class BenchError(RuntimeError):
    """The benchmark cannot run; the message says why."""


@dataclass(frozen=True)
class Dependencies:
    database_url: str
    redis_url: str
    embedded_database: bool
    embedded_redis: bool


def configured_urls() -> tuple[str | None, str | None]:
    """AURUM_DATABASE_URL and AURUM_REDIS_URL, read (like every setting) through Settings."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise BenchError(f"invalid AURUM_* setting: {exc}") from exc
    return settings.database_url, settings.redis_url


@contextlib.contextmanager
def dependencies(workdir: Path) -> Iterator[Dependencies]:
    """Yield reachable, migrated dependencies; stop the embedded ones afterwards."""
    database_url, redis_url = configured_urls()
    embedded_database, embedded_redis = database_url is None, redis_url is None
    with contextlib.ExitStack() as stack:
        if database_url is None:
            progress("starting embedded PostgreSQL")
            # delete_on_exit: the server is stopped and its data removed when this process exits.
            database_url = start_embedded_postgres(workdir / "postgres", delete_on_exit=True)
        else:
            progress(f"using AURUM_DATABASE_URL={redact(database_url)}")
        if redis_url is None:
            progress("starting embedded Redis")
            directory, port = workdir / "redis", free_port()
            redis_url = start_embedded_redis(directory, port=port)
            stack.callback(release_embedded_redis, directory, port)
        else:
            progress(f"using AURUM_REDIS_URL={redact(redis_url)}")
        try:
            check_database(database_url)
            check_redis(redis_url)
        except RuntimeError as exc:
            raise BenchError(str(exc)) from exc
        progress("migrating the database")
        migrate.upgrade(database_url)
        yield Dependencies(
            database_url=database_url,
            redis_url=redis_url,
            embedded_database=embedded_database,
            embedded_redis=embedded_redis,
        )


async def _create_admin_key(database_url: str) -> tuple[str, uuid.UUID]:
    engine = create_async_engine(async_url(database_url))
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            key, plaintext = await api_keys.create_key(
                session, AuditContext(principal=SYSTEM), name=KEY_NAME, role=Role.ADMIN
            )
        return plaintext, key.id
    finally:
        await engine.dispose()


async def _revoke_key(database_url: str, key_id: uuid.UUID) -> None:
    engine = create_async_engine(async_url(database_url))
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            await api_keys.revoke_key(session, AuditContext(principal=SYSTEM), key_id)
    finally:
        await engine.dispose()


@contextlib.contextmanager
def admin_api_key(deps: Dependencies) -> Iterator[str]:
    """A fresh admin key (plaintext). In a database the benchmark does not own, it is revoked
    at the end, so no working admin key is left behind."""
    plaintext, key_id = asyncio.run(_create_admin_key(deps.database_url))
    try:
        yield plaintext
    finally:
        if not deps.embedded_database:
            asyncio.run(_revoke_key(deps.database_url, key_id))
