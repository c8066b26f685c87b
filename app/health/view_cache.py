"""Rendered health and SLA bodies, shared by every reader of a replica for up to a second.

The ops dashboard polls `/health` and `/sla` every few seconds from several browsers, and
on-call engineers poll the same views with `curl` during an outage. Each view costs two
round-trips and a few milliseconds of CPU to compute, which is about twenty times what the
rest of an authenticated request costs (`bench/api_overhead`). So each replica computes a view
at most once per `AURUM_HEALTH_CACHE_SECONDS` and hands every reader in that interval the
same encoded bytes:

- **Single flight.** Readers that arrive while a view is being computed wait for that
  computation instead of starting their own; a reader that disconnects does not cancel it.
- **Refreshed ahead.** A reader that finds the view past half its interval gets it at once
  and starts the next computation in the background, so under steady polling nobody waits
  for one (a reader waiting a few milliseconds each interval was the p99 of a busy replica).
  A view older than the interval is never served: that reader waits for a fresh one.
- **Local changes invalidate.** A change made through this replica (any request that is not
  a read, see `RequestContextMiddleware`) bumps `ChangeCounter`, and the next read computes a
  new view: an operator who resets a breaker and then reads health sees the reset. Changes
  made elsewhere (another replica, a job) show within the interval, which matches the
  propagation promise of runtime flags (every replica within a second).
- **Failures are not cached.** A computation that raises is re-raised to every reader waiting
  for it, and the next read tries again.

The body carries `checked_at`, the time it was computed, so a reader can tell its age.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

log = logging.getLogger(__name__)


class ChangeCounter:
    """Counts the changes this replica has accepted; a cached view older than the last
    change is not served."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1


@dataclass(frozen=True, slots=True)
class _Entry:
    body: bytes
    computed_at: float  # time.monotonic()
    generation: int


class ViewCache:
    def __init__(self, ttl_seconds: float, changes: ChangeCounter) -> None:
        self.ttl_seconds = ttl_seconds
        self._changes = changes
        self._entries: dict[Hashable, _Entry] = {}
        self._pending: dict[Hashable, asyncio.Future[bytes]] = {}

    def _age(self, key: Hashable) -> tuple[_Entry, float] | None:
        """The cached entry and its age, while it is current and within the interval."""
        entry = self._entries.get(key)
        if entry is None or entry.generation != self._changes.value:
            return None
        age = time.monotonic() - entry.computed_at
        return (entry, age) if age < self.ttl_seconds else None

    def fresh(self, key: Hashable) -> bytes | None:
        """The cached view when it needs nothing done: current, and in the first half of its
        interval (past it, `get` serves it and starts the refresh)."""
        found = self._age(key)
        return found[0].body if found and found[1] < self.ttl_seconds / 2 else None

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        """The view under `key`: the cached bytes while fresh, else `compute()`'s, computed
        once however many readers ask meanwhile."""
        if self.ttl_seconds <= 0:
            return await compute()
        generation = self._changes.value
        pending = self._pending.get(key)
        if (found := self._age(key)) is not None:
            entry, age = found
            if age >= self.ttl_seconds / 2 and pending is None:
                self._start(key, compute, generation).add_done_callback(_log_failure)
            return entry.body
        if pending is None:
            pending = self._start(key, compute, generation)
        # Shielded: a reader that goes away does not cancel the others' computation.
        return await asyncio.shield(pending)

    def _start(
        self, key: Hashable, compute: Callable[[], Awaitable[bytes]], generation: int
    ) -> asyncio.Future[bytes]:
        pending = self._pending[key] = asyncio.ensure_future(
            self._compute(key, compute, generation)
        )
        return pending

    async def _compute(
        self, key: Hashable, compute: Callable[[], Awaitable[bytes]], generation: int
    ) -> bytes:
        started = time.monotonic()
        try:
            body = await compute()
        finally:
            del self._pending[key]
        # Timed from the start: the view shows state read at the start of the computation.
        self._entries[key] = _Entry(body, started, generation)
        return body


def _log_failure(future: asyncio.Future[bytes]) -> None:
    """A refresh nobody waited for: its failure is logged (and retrieved, so asyncio does not
    warn); the next reader past the interval tries again."""
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("refreshing a health view failed", exc_info=exc)
