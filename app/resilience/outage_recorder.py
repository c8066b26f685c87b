"""Breaker transitions on a provider's open outage's timeline (the `breaker` events of the
post-incident report). Transitions are rare, so the one lookup (is an outage open?) is made
only on a transition, never on the call path; a failed write is logged and never fails the
call that made the transition."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import outage_events
from app.resilience.breaker import TransitionListener

log = logging.getLogger(__name__)

# The provider call that made the transition waits for this write at most this long.
RECORD_TIMEOUT_SECONDS = 2.0


def breaker_listener(sessionmaker: async_sessionmaker[AsyncSession]) -> TransitionListener:
    """Records each breaker transition this replica makes on the provider's open outage."""

    async def listen(provider: str, source: str, target: str, reason: str | None) -> None:
        if source == target:
            return
        summary = f"circuit breaker {source} -> {target}" + (f": {reason}" if reason else "")
        try:
            async with asyncio.timeout(RECORD_TIMEOUT_SECONDS):
                async with sessionmaker() as session, session.begin():
                    await outage_events.add_if_open(
                        session, provider, kind="breaker", summary=summary[:1024],
                        detail={"from": source, "to": target, "reason": reason},
                    )  # fmt: skip
        except Exception as exc:  # PostgreSQL down: the breaker's own event log keeps it
            log.warning(
                "could not record the breaker transition of %s on its outage: %s", provider, exc,
                extra={"provider": provider},
            )  # fmt: skip

    return listen


def both(*listeners: TransitionListener) -> TransitionListener:
    """One listener that tells each of `listeners` in turn."""

    async def listen(provider: str, source: str, target: str, reason: str | None) -> None:
        for listener in listeners:
            await listener(provider, source, target, reason)

    return listen
