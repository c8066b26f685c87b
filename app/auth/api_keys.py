"""API keys: create, list, revoke (audited), and verify on the request path.

Verification is cached per key prefix for `AURUM_API_KEY_CACHE_SECONDS` (default 5 s), so a
dashboard polling every few seconds costs no database query per request; and a key that was
verified is remembered (by its exact text, for the same window) with the principal it maps to,
so a repeated request costs a dictionary lookup: no hashing, no I/O. A revocation takes effect
at once on the replica that made it and within that window on the others.

A lookup waits for PostgreSQL at most AURUM_DB_REQUEST_TIMEOUT_SECONDS, and concurrent lookups
of one prefix share one query; a lookup left pending by a stalled server makes the next ones
fail at once instead of piling up connections. While PostgreSQL does not answer, a key that
was verified within AURUM_API_KEY_OUTAGE_GRACE_SECONDS still authenticates (so reads that need
only Redis or a cache keep working); any other key gets `CredentialsUnavailable` (a 503). A
revocation made on another replica during that outage is not seen until PostgreSQL answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.service import AuditContext, record
from app.auth.keys import generate_key, matches, split_prefix
from app.auth.principal import Principal, Role
from app.db.models import ApiKey
from app.db.repositories import api_keys as repo
from app.errors import NotFound
from app.monitoring.pending_checks import PendingChecks

log = logging.getLogger(__name__)

_LAST_USED_EVERY_SECONDS = 60.0


class InvalidApiKey(Exception):
    """Refused; the reason is for logs only."""


class CredentialsUnavailable(Exception):
    """The key cannot be checked now: PostgreSQL does not answer and the key was not
    verified within the outage grace."""


# What a lookup that did not get an answer from PostgreSQL raises.
_DATABASE_FAILURES = (SQLAlchemyError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class _KeySnapshot:
    id: uuid.UUID
    name: str
    prefix: str
    key_hash: str
    role: Role
    expires_at: datetime | None
    revoked: bool


def public_view(key: ApiKey) -> dict[str, Any]:
    """What the API and CLI show of a key: never the hash."""
    return {
        "id": str(key.id),
        "name": key.name,
        "role": key.role,
        "prefix": key.prefix,
        "created_by": key.created_by,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


async def create_key(
    session: AsyncSession,
    context: AuditContext,
    *,
    name: str,
    role: Role,
    expires_in: timedelta | None = None,
    reason: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its plaintext, which is shown once and never stored."""
    material = generate_key()
    key = ApiKey(
        name=name,
        prefix=material.prefix,
        key_hash=material.key_hash,
        role=role.value,
        created_by=context.principal.id,
        expires_at=datetime.now(UTC) + expires_in if expires_in else None,
    )
    await repo.add(session, key)
    await session.refresh(key)
    await record(
        session,
        context,
        action="api_key.create",
        target=f"api_key:{key.id}",
        after=public_view(key),
        reason=reason,
    )
    return key, material.plaintext


async def revoke_key(session: AsyncSession, context: AuditContext, key_id: uuid.UUID) -> ApiKey:
    key = await repo.get(session, key_id)
    if key is None:
        raise NotFound(f"No API key with id {key_id}; `GET /v1/admin/api-keys` lists them.")
    if key.revoked_at is None:  # revoking twice changes nothing and records nothing
        before = {"revoked_at": None}
        key.revoked_at = datetime.now(UTC)
        await session.flush()
        await record(
            session,
            context,
            action="api_key.revoke",
            target=f"api_key:{key.id}",
            before=before,
            after={"revoked_at": key.revoked_at.isoformat()},
        )
    return key


class ApiKeyVerifier:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        cache_seconds: float,
        *,
        lookup_timeout: float = 1.0,
        outage_grace_seconds: float = 0.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._cache_seconds = cache_seconds
        self._lookup_timeout = lookup_timeout
        self._outage_grace = outage_grace_seconds
        self._lookups = PendingChecks()
        self._cache: dict[str, tuple[_KeySnapshot | None, float]] = {}
        # Exact key text → (principal, its key's id, expiry as epoch seconds, cached until,
        # usable until while PostgreSQL does not answer).
        self._verified: dict[str, tuple[Principal, uuid.UUID, float, float, float]] = {}
        self._last_used: dict[uuid.UUID, float] = {}  # monotonic time of the last write
        self._tasks: set[asyncio.Task[None]] = set()

    async def verify(self, plaintext: str) -> Principal:
        verified = self._verified.get(plaintext)
        if verified is not None:
            principal, key_id, expires, fresh_until, _ = verified
            clock = time.monotonic()
            if time.time() >= expires:
                del self._verified[plaintext]
            elif clock < fresh_until:
                self._note_use(key_id, clock)
                return principal
        prefix = split_prefix(plaintext)
        if prefix is None:
            raise InvalidApiKey("malformed key")
        try:
            snapshot = await self._snapshot(prefix)
        except _DATABASE_FAILURES as exc:
            return self._during_outage(plaintext, exc)
        self._verified.pop(plaintext, None)
        if snapshot is None or not matches(plaintext, snapshot.key_hash):
            raise InvalidApiKey("unknown key")
        now = datetime.now(UTC)
        if snapshot.revoked:
            raise InvalidApiKey("revoked key")
        if snapshot.expires_at is not None and snapshot.expires_at <= now:
            raise InvalidApiKey("expired key")
        self._note_use(snapshot.id, time.monotonic())
        principal = Principal(
            id=f"key:{prefix}", name=snapshot.name, role=snapshot.role, kind="api_key"
        )
        expires = snapshot.expires_at.timestamp() if snapshot.expires_at else math.inf
        fresh_until = self._cache[prefix][1]  # no longer than the snapshot it was checked on
        grace_until = fresh_until + self._outage_grace
        self._verified[plaintext] = (principal, snapshot.id, expires, fresh_until, grace_until)
        return principal

    def _during_outage(self, plaintext: str, exc: BaseException) -> Principal:
        """The key's last verification while PostgreSQL does not answer, within the grace;
        PostgreSQL is asked again after one cache window (not on every request, each of
        which would wait for the lookup's timeout)."""
        verified = self._verified.get(plaintext)
        clock = time.monotonic()
        if verified is None or clock >= verified[4]:
            raise CredentialsUnavailable(type(exc).__name__) from exc
        principal, key_id, expires, _, grace_until = verified
        retry_at = min(clock + self._cache_seconds, grace_until)
        self._verified[plaintext] = (principal, key_id, expires, retry_at, grace_until)
        log.warning("API key lookup failed (%s); using its last verification", type(exc).__name__)
        return principal

    async def in_force(self, prefix: str) -> bool:
        """Whether the key with this prefix is neither revoked nor expired, from the same
        cache as verify() (AURUM_API_KEY_CACHE_SECONDS). The dashboard asks on each request,
        so a revoked key's sessions end with it. True while PostgreSQL does not answer, as
        verify() honours a recent verification then."""
        try:
            snapshot = await self._snapshot(prefix)
        except _DATABASE_FAILURES:
            return True
        if snapshot is None or snapshot.revoked:
            return False
        return snapshot.expires_at is None or snapshot.expires_at > datetime.now(UTC)

    def invalidate(self, prefix: str) -> None:
        self._cache.pop(prefix, None)
        for text in [text for text in self._verified if split_prefix(text) == prefix]:
            del self._verified[text]

    async def _snapshot(self, prefix: str) -> _KeySnapshot | None:
        cached = self._cache.get(prefix)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        key = await self._lookups.run(prefix, lambda: self._by_prefix(prefix), self._lookup_timeout)
        snapshot = None
        if key is not None:
            snapshot = _KeySnapshot(
                id=key.id,
                name=key.name,
                prefix=key.prefix,
                key_hash=key.key_hash,
                role=Role(key.role),
                expires_at=key.expires_at,
                revoked=key.revoked_at is not None,
            )
        self._cache[prefix] = (snapshot, time.monotonic() + self._cache_seconds)
        return snapshot

    async def _by_prefix(self, prefix: str) -> ApiKey | None:
        async with self._sessionmaker() as session:
            return await repo.by_prefix(session, prefix)

    def _note_use(self, key_id: uuid.UUID, now: float) -> None:
        """Record `last_used_at` at most once a minute per key, off the request path."""
        previous = self._last_used.get(key_id)
        if previous is not None and now - previous < _LAST_USED_EVERY_SECONDS:
            return
        self._last_used[key_id] = now
        used_at = datetime.now(UTC)
        task = asyncio.get_running_loop().create_task(self._write_last_used(key_id, used_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write_last_used(self, key_id: uuid.UUID, now: datetime) -> None:
        try:
            async with self._sessionmaker() as session, session.begin():
                await repo.touch_last_used(session, key_id, now)
        except Exception:  # bookkeeping only: never fail or slow a request for it
            log.warning("could not record last_used_at for an API key", exc_info=True)

    async def drain(self) -> None:
        """Wait for pending `last_used_at` writes (at shutdown); drop stalled lookups."""
        await self._lookups.aclose()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
