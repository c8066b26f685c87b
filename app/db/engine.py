"""The async engine and session factory (psycopg 3), built in the lifespan, never at import."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.settings import Settings


def async_url(url: str) -> str:
    """Any PostgreSQL URL → SQLAlchemy's psycopg 3 dialect (`postgresql+psycopg://`)."""
    scheme, rest = url.split("://", 1)
    if scheme in {"postgresql", "postgres"}:
        return f"postgresql+psycopg://{rest}"
    return url


def libpq_url(url: str) -> str:
    """SQLAlchemy URL → plain libpq URL, for psycopg and pg tools."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgresql") else url


# Seconds to open a connection (libpq's `connect_timeout`), and to wait for a pooled one when
# all are in use. A stalled server accepts connections and answers nothing: both waits end.
CONNECT_TIMEOUT_SECONDS = 5


def build_engine(settings: Settings, database_url: str) -> AsyncEngine:
    """`statement_timeout` bounds a query on a server that runs; on one that does not answer
    at all nothing in the driver does, so the request path bounds its own waits
    (AURUM_DB_REQUEST_TIMEOUT_SECONDS, AURUM_ADMIN_READ_DEADLINE_SECONDS)."""
    return create_async_engine(
        async_url(database_url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=CONNECT_TIMEOUT_SECONDS,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            "application_name": f"aurum:{settings.replica_id}"[:63],
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        },
    )


def build_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: objects stay readable after the unit of work commits, with no
    # lazy load (which async SQLAlchemy would refuse) when a response is built from them.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
