"""A deadline for admin reads: a GET under the admin prefixes that has not started its answer
within AURUM_ADMIN_READ_DEADLINE_SECONDS answers 503 in the error shape.

It exists for a stalled PostgreSQL (a stopped process, a partition: connections hang, no
reset). The driver has no client-side deadline on a pooled connection, and cancelling a query
waits for the stalled server too (psycopg's cancellation, up to 10 s), so `asyncio.timeout`
around the work would not bound the request either. Instead the request runs in a task this
layer stops waiting for at the deadline: the task is cancelled and left to end in the
background, and whatever it sends afterwards is dropped. An answer that has started (a
stream) is never cut. Redis is bounded by its client's own timeout
(AURUM_REDIS_TIMEOUT_SECONDS), well inside this deadline.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import send_error

log = logging.getLogger(__name__)


class ReadDeadline:
    def __init__(self, app: ASGIApp, *, seconds: float, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.seconds = seconds
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.seconds <= 0
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        started = abandoned = False

        async def guarded(message: Message) -> None:
            nonlocal started
            if abandoned:
                return  # answered with the 503 already
            started = started or message["type"] == "http.response.start"
            await send(message)

        # One future woken by whichever comes first, the task's end or the deadline: what
        # `asyncio.wait` does, without its set, callbacks and sets of results per request.
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake(*_: object) -> None:
            if not woken.done():
                woken.set_result(None)

        task: asyncio.Future[None] = asyncio.ensure_future(self.app(scope, receive, guarded))
        task.add_done_callback(wake)
        timer = loop.call_later(self.seconds, wake)
        try:
            await woken
        finally:
            timer.cancel()
        if task.done() or started:
            await task  # its result, or its exception for the layers above
            return
        abandoned = True
        task.cancel()  # not awaited: the cancellation may take as long as the stall
        task.add_done_callback(_retrieve)
        log.warning(
            "admin read abandoned after %.1f s: a dependency gave no answer",
            self.seconds,
            extra={"path": scope["path"]},
        )
        await send_error(
            send,
            503,
            f"No answer within {self.seconds:g}s: PostgreSQL (or another dependency) is not "
            "answering; retry in a few seconds. Dependency states: GET /ready.",
            headers=[(b"retry-after", b"5")],
        )


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
