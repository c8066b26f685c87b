"""Alembic environment: runs migrations over a synchronous psycopg 3 connection, holding a
PostgreSQL advisory lock so replicas starting together migrate one at a time."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text

import app.db.models  # noqa: F401 - registers every table on the metadata
from app.db.metadata import metadata
from app.db.repositories.observation_partitions import is_partition

MIGRATION_LOCK_ID = 0x4155_5255  # "AURU"

config = context.config
if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name)


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    # Plain `alembic upgrade head` from a shell: same database the service would use.
    from app.bootstrap import resolve_database_url
    from app.db.engine import async_url
    from app.settings import Settings

    return async_url(resolve_database_url(Settings()))


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """The observations table's partitions are not in the model (it describes the parent)."""
    return not (type_ == "table" and is_partition(name))


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=metadata,
        literal_binds=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                compare_type=True,
                include_name=include_name,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
