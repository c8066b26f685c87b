"""Recoveries: a provider coming back after an outage. Revisions published while it was
unreachable were missed, and a collection only re-reads a series' revision window when the
series looks changed or its re-read is due, so a recovery leaves a marker in PostgreSQL
(`provider_recoveries`) that makes the next full collection re-read every series' window.

Marked by: an operator's breaker reset, an operator's resume of the provider's ingest job
(both in their request's transaction), and the breaker closing by itself after being open
or forced open (`breaker_listener`, on the replica that made the transition)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import recoveries
from app.resilience.breaker import TransitionListener

log = logging.getLogger(__name__)

# States a close counts as a recovery from (a disabled breaker let every call through).
_OUTAGE_STATES = {"open", "half_open", "forced_open"}
# The marker write may not hold up the provider call that closed the breaker for longer.
MARK_TIMEOUT_SECONDS = 2.0


async def mark(session: AsyncSession, provider: str, reason: str | None) -> None:
    """Mark a recovery in the caller's transaction."""
    await recoveries.mark(session, provider, reason=(reason or "recovered")[:1024])


def breaker_listener(sessionmaker: async_sessionmaker[AsyncSession]) -> TransitionListener:
    """Marks a recovery when a breaker closes after being open. A failed write is logged and
    never fails the call that closed it."""

    async def listen(provider: str, source: str, target: str, reason: str | None) -> None:
        if target != "closed" or source not in _OUTAGE_STATES:
            return
        why = f"circuit breaker {source} -> closed" + (f": {reason}" if reason else "")
        try:
            async with asyncio.timeout(MARK_TIMEOUT_SECONDS):
                async with sessionmaker() as session, session.begin():
                    await mark(session, provider, why)
        except Exception as exc:  # PostgreSQL down: the daily re-read still comes
            log.warning(
                "could not mark the recovery of %s: %s", provider, exc,
                extra={"provider": provider},
            )  # fmt: skip
        else:
            log.info("recovery of %s marked: %s", provider, why, extra={"provider": provider})

    return listen
