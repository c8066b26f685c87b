"""Credentials for tests, made through the real key service and token minting."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import create_async_engine

from app.audit.service import AuditContext
from app.auth import api_keys
from app.auth.principal import SYSTEM, Role
from app.auth.tokens import mint
from app.db.engine import build_sessionmaker
from app.settings import Settings

TEST_JWT_SECRET = "test-secret-" + "0123456789abcdefghijklmnopqrstuvwxyz"


async def new_api_key(database_url: str, role: Role, name: str = "test") -> tuple[str, str]:
    """(plaintext, key id) of a fresh key with `role`."""
    engine = create_async_engine(database_url)
    try:
        async with build_sessionmaker(engine)() as session, session.begin():
            key, plaintext = await api_keys.create_key(
                session, AuditContext(principal=SYSTEM), name=name, role=role
            )
        return plaintext, str(key.id)
    finally:
        await engine.dispose()


def bearer(settings: Settings, role: Role, subject: str = "tester") -> dict[str, str]:
    token = mint(
        settings, secret=TEST_JWT_SECRET, subject=subject, role=role, ttl=timedelta(hours=1)
    )
    return {"Authorization": f"Bearer {token}"}
