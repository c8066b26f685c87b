"""Dependency checks that answer within their deadline, whatever the dependency does.

`asyncio.wait_for` waits for the cancelled call to finish; against a stalled PostgreSQL that
is psycopg's query cancellation, which itself waits (up to 30 s) for the stalled server. So a
check here is a task the caller stops waiting for at the deadline: it is cancelled and left to
end in the background. While it has not ended, the next check of the same dependency does not
start another (the stalled server would only collect hanging connections): it reports the
pending one's age instead, at once. Callers arriving while a call is still within its deadline
share it. One instance per replica for `/ready` and the health view; the API-key lookups and
the read API's page loads keep their own (app/auth/api_keys.py, app/read_api/cache.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class CheckPending(TimeoutError):
    """The previous check of this dependency has not ended yet."""


class PendingChecks:
    def __init__(self) -> None:
        # name → (task, monotonic start, abandoned: a caller stopped waiting at its deadline)
        self._tasks: dict[str, tuple[asyncio.Task[object], float, bool]] = {}

    async def run(self, name: str, call: Callable[[], Awaitable[T]], deadline: float) -> T:
        """`call()`'s result within `deadline` seconds of its start, else TimeoutError
        (CheckPending at once when the previous call under `name` was abandoned: the
        dependency is not answering; a new call starts `deadline` seconds after the abandoned
        one ended, so a call that gives up fast on a stalled server, e.g. a connection attempt,
        does not make every caller wait a whole deadline). A call still within its deadline
        is shared: concurrent callers wait for the same one. Not `asyncio.timeout`: that would
        wait for the cancelled call to end."""
        previous = self._tasks.get(name)
        if previous is not None and previous[2]:
            waited = time.monotonic() - previous[1]
            raise CheckPending(f"no answer within {deadline:g}s (pending for {waited:.1f}s)")
        if previous is not None and not previous[0].done():
            task, started, _ = previous
        else:
            task = asyncio.ensure_future(call())
            started = time.monotonic()
            task.add_done_callback(_retrieve)
            task.add_done_callback(lambda done: self._forget(name, done, deadline))
            self._tasks[name] = (task, started, False)
        left = max(0.0, started + deadline - time.monotonic())
        done, _ = await asyncio.wait({task}, timeout=left)
        if not done or task.cancelled():
            if not task.done():
                self._tasks[name] = (task, started, True)
                task.cancel()  # not awaited: the cancellation may take as long as the stall
            raise TimeoutError(f"no answer within {deadline:g}s")
        return task.result()  # type: ignore[return-value]

    def _forget(self, name: str, task: asyncio.Task[object], deadline: float) -> None:
        """An ended call is dropped (so many names, e.g. pages, do not accumulate); an
        abandoned one `deadline` seconds after it ended."""
        entry = self._tasks.get(name)
        if entry is None or entry[0] is not task:
            return
        if not entry[2]:
            del self._tasks[name]
            return

        def drop() -> None:
            if self._tasks.get(name) is entry:
                del self._tasks[name]

        asyncio.get_running_loop().call_later(deadline, drop)

    async def aclose(self) -> None:
        """Cancel what is still running and give it a moment to end (at shutdown)."""
        tasks = [task for task, _, _ in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        self._tasks.clear()


def _retrieve(task: asyncio.Task[object]) -> None:
    """A check nobody waits for any more: its outcome is dropped (asyncio would warn)."""
    if not task.cancelled():
        task.exception()
