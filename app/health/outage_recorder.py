"""Provider health transitions on the provider's open outage's timeline (the `health`
events of the post-incident report). Only a transition (a status that changed, which is
rare) costs the lookup; a failed write is logged and never fails the health view or probe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import outage_events
from app.health.status_store import Transition

log = logging.getLogger(__name__)

# The health view or probe that saw the transition waits for the write at most this long.
RECORD_TIMEOUT_SECONDS = 1.0


async def record_transitions(
    sessionmaker: async_sessionmaker[AsyncSession], transitions: Iterable[Transition | None]
) -> None:
    found = [t for t in transitions if t is not None]
    if not found:
        return
    try:
        async with asyncio.timeout(RECORD_TIMEOUT_SECONDS):
            async with sessionmaker() as session, session.begin():
                for t in found:
                    verdict = t.verdict
                    await outage_events.add_if_open(
                        session, t.provider, kind="health", actor="system",
                        summary=f"health {t.before} -> {verdict.status}: {verdict.reason}"[:1024],
                        detail={"from": t.before, "to": verdict.status, "reason": verdict.reason,
                                "reasons": verdict.reasons},
                    )  # fmt: skip
    except Exception as exc:  # PostgreSQL down: the status key in Redis still says it
        log.warning(
            "could not record health transitions on open outages: %s", exc,
            extra={"providers": [t.provider for t in found]},
        )  # fmt: skip
