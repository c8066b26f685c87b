"""The embedded default's first admin key: created on first start when no key exists,
printed once and written to `<data_dir>/bootstrap-admin-key` (mode 0600)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.service import AuditContext
from app.auth.api_keys import create_key
from app.auth.local_secrets import BOOTSTRAP_KEY_FILE, write_private
from app.auth.principal import SYSTEM, Role
from app.db.repositories import api_keys as repo

_LOCK_ID = 0x4155_4B59  # "AUKY": replicas starting together create one key, not three


async def ensure_bootstrap_key(
    sessionmaker: async_sessionmaker[AsyncSession], data_dir: Path
) -> str | None:
    """The new key's plaintext, or None when keys already exist."""
    async with sessionmaker() as session, session.begin():
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        if await repo.count(session) > 0:
            return None
        context = AuditContext(principal=SYSTEM, reason="first start of the embedded default")
        _, plaintext = await create_key(session, context, name="bootstrap-admin", role=Role.ADMIN)
    write_private(data_dir / BOOTSTRAP_KEY_FILE, plaintext)
    return plaintext
