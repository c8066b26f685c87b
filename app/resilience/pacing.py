"""A guarded client that also spaces its own requests: backfills use it so they take only a
share of a provider's rate and leave the rest to the live schedule."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from app.resilience.client import BodyInspector, GuardedClient


class PacedClient(GuardedClient):
    def __init__(self, inner: GuardedClient, requests_per_second: float) -> None:
        super().__init__(inner.guards, inner.http)
        self.attempts = inner.attempts  # one count per process, as run summaries expect
        self._interval = 1.0 / requests_per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def request(
        self,
        provider: str,
        method: str,
        url: str,
        *,
        params: Any = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
        inspect: BodyInspector | None = None,
    ) -> httpx.Response:
        async with self._lock:
            wait = self._next - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next = max(self._next, time.monotonic()) + self._interval
        return await super().request(
            provider, method, url, params=params, headers=headers, json=json, inspect=inspect
        )
