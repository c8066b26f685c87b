"""Database access for `aurum` commands: the same database as `aurum serve` (the embedded
one when AURUM_DATABASE_URL is unset), whether or not the service is running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from app.bootstrap import StartupError, check_database, resolve_database_url
from app.cli.output import fail
from app.db import migrate
from app.db.engine import build_engine, build_sessionmaker
from app.settings import Settings


def database_url_for_commands(settings: Settings) -> str:
    try:
        url = resolve_database_url(settings)
        check_database(url)
    except StartupError as exc:
        fail(str(exc))
    migrate.upgrade(url)  # a command may run before the service ever started
    return url


@asynccontextmanager
async def unit_of_work(settings: Settings, url: str) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back on error."""
    engine = build_engine(settings, url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()
