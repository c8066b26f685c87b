"""A real HTTP server standing in for a provider in tests of the guarded client: it answers
from a script (429 with Retry-After, 5xx, slow answers, errors sent with HTTP 200) and counts
every arrival. It runs under uvicorn in a thread of the test process, on a loopback port."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.embedded.ports import free_port, wait_for_port


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None  # sent as is (HTML pages, truncated JSON)


class FakeProvider:
    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[tuple[float, str]] = []
        self._script: deque[Reply] = deque()
        self.default = Reply()
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeProvider:
        self._thread.start()
        wait_for_port("127.0.0.1", self.port, timeout=10, what="fake provider")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def script(self, *replies: Reply) -> None:
        """The next requests get these replies in order; then `default`."""
        with self._lock:
            self._script.extend(replies)

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for _, p in self.arrivals if path is None or p == path)

    def reset(self) -> None:
        with self._lock:
            self.arrivals.clear()
            self._script.clear()
        self.default = Reply()

    async def _handle(self, request: Request) -> Response:
        with self._lock:
            self.arrivals.append((time.time(), "/" + request.path_params["path"]))
            reply = self._script.popleft() if self._script else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raw is not None:
            return Response(reply.raw, status_code=reply.status, headers=reply.headers)
        return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
