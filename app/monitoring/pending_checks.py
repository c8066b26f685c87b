"""Dependency checks that answer within their deadline, whatever the dependency does.

`asyncio.wait_for` waits for the cancelled call to finish; against a stalled PostgreSQL that
is psycopg's query cancellation, which itself waits (up to 30 s) for the stalled server. So a
check here is a task the caller stops waiting for at the deadline: it is cancelled and left to
end in the background. While it has not ended, the next check of the same dependency does not
start another (the stalled server would only collect hanging connections): it reports the
pending one's age instead. One instance per replica, shared by `/ready` and the health view.
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
        self._tasks: dict[str, tuple[asyncio.Task[object], float]] = {}

    async def run(self, name: str, call: Callable[[], Awaitable[T]], deadline: float) -> T:
        """`call()`'s result within `deadline` seconds, else TimeoutError (CheckPending when
        the previous call under `name` is still running). Not `asyncio.timeout`: that would
        wait for the cancelled call to end."""
        previous = self._tasks.get(name)
        if previous is not None and not previous[0].done():
            waited = time.monotonic() - previous[1]
            raise CheckPending(f"no answer within {deadline:g}s (pending for {waited:.1f}s)")
        task: asyncio.Task[T] = asyncio.ensure_future(call())
        task.add_done_callback(_retrieve)
        self._tasks[name] = (task, time.monotonic())
        done, _ = await asyncio.wait({task}, timeout=deadline)
        if not done:
            task.cancel()  # not awaited: the cancellation may take as long as the stall
            raise TimeoutError(f"no answer within {deadline:g}s")
        return task.result()

    async def aclose(self) -> None:
        """Cancel what is still running and give it a moment to end (at shutdown)."""
        tasks = [task for task, _ in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        self._tasks.clear()


def _retrieve(task: asyncio.Task[object]) -> None:
    """A check nobody waits for any more: its outcome is dropped (asyncio would warn)."""
    if not task.cancelled():
        task.exception()
