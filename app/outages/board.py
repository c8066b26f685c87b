"""Every replica's view of the open outages, for health, ratelimits and the gauge.

Each replica re-reads the open outages every REFRESH_SECONDS (one indexed query on a table of
a few rows) and, when they changed, sets `aurum_external_outage_open` and calls `on_change`
(which drops the cached health views), so a declaration on one replica shows on every other
replica's health within a second, whoever polls it. Reads are a dict lookup, no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.repositories import outages as repo
from app.monitoring.metrics import EXTERNAL_OUTAGE_OPEN
from app.outages.views import summary

log = logging.getLogger(__name__)

REFRESH_SECONDS = 0.25


class OutageBoard:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        providers: Callable[[], list[str]],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._providers = providers
        self.on_change = on_change
        self._open: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task[None] | None = None

    def get(self, provider: str) -> dict[str, Any] | None:
        """The provider's open outage as health shows it, or None."""
        return self._open.get(provider)

    async def refresh(self) -> None:
        async with self._sessionmaker() as session:
            current = {o.provider: summary(o) for o in await repo.open_outages(session)}
        changed = current != self._open
        self._open = current
        for provider in set(self._providers()) | set(current):
            EXTERNAL_OUTAGE_OPEN.labels(provider).set(1 if provider in current else 0)
        if changed and self.on_change is not None:
            self.on_change()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="outage-board")

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # PostgreSQL down: keep the last view
                log.debug("outage board refresh skipped: %s", exc)
            await asyncio.sleep(REFRESH_SECONDS)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
