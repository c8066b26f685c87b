"""A TCP proxy in front of a real server, which a test uses to make that server unreachable
for the app behind it. A real failure, not a mock, in two kinds:

- `close()`: the server is gone. Open connections are reset, new ones refused.
- `stall()`: the server hangs (what `kill -STOP` does to it). Connections, open and new, are
  accepted but nothing is forwarded either way, so every call waits for its own timeout;
  `resume()` delivers what was held back, as a server continued with `kill -CONT` would.

`ProxyThread` runs one on its own loop for synchronous tests (a service in a subprocess).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

T = TypeVar("T")


class TcpProxy:
    """Listens on 127.0.0.1; forwards to (host, port) or, port None, to the Unix socket at
    `host` (the embedded PostgreSQL of the suite)."""

    def __init__(self, target_host: str, target_port: int | None) -> None:
        self.target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.port = 0

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port or 0, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def stall(self) -> None:
        """Stop forwarding in both directions, on open and new connections alike."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again, starting with whatever was held back."""
        self._flowing.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A stalled server still completes the handshake (the kernel does) but answers nothing.
        with contextlib.suppress(asyncio.CancelledError):
            await self._flowing.wait()
        if not self._flowing.is_set():
            writer.close()
            return
        try:
            host, port = self.target
            if port is None:
                up_reader, up_writer = await asyncio.open_unix_connection(host)
            else:
                up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        with contextlib.suppress(asyncio.CancelledError):  # the test's loop ended first
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)

    async def close(self) -> None:
        """Refuse new connections and cut the open ones (`start()` again listens on the same
        port, so a client configured with it reconnects by itself)."""
        self._flowing.set()
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def url_for(self, url: str) -> str:
        """`url` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        auth = f"{netloc[0]}@" if len(netloc) == 2 else ""
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in {"host", "port"}])
        return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{self.port}", query=query))


def redis_target(url: str) -> tuple[str, int]:
    """Where a `redis://host:port/db` URL connects: (host, port)."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def postgres_target(url: str) -> tuple[str, int | None]:
    """Where a PostgreSQL URL connects: (host, port), or (socket path, None)."""
    parts = urlsplit(url)
    socket_dir = dict(parse_qsl(parts.query)).get("host")
    if socket_dir and socket_dir.startswith("/"):
        port = parts.port or dict(parse_qsl(parts.query)).get("port")
        if port:
            return str(Path(socket_dir) / f".s.PGSQL.{port}"), None
        sockets = sorted(Path(socket_dir).glob(".s.PGSQL.*[0-9]"))
        return str(sockets[0]), None
    return parts.hostname or "127.0.0.1", parts.port or 5432


class ProxyThread:
    """A TcpProxy on its own event loop in a daemon thread, driven from synchronous code (a
    test that runs `aurum serve` as a subprocess and points its AURUM_REDIS_URL or
    AURUM_DATABASE_URL at `url_for(...)`). Every method waits for the proxy to act."""

    def __init__(self, target_host: str, target_port: int | None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.proxy = TcpProxy(target_host, target_port)
        self._call(self.proxy.start())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _run(self, action: Callable[[], None]) -> None:
        action()

    @property
    def port(self) -> int:
        return self.proxy.port

    def url_for(self, url: str) -> str:
        return self.proxy.url_for(url)

    def stall(self) -> None:
        self._call(self._run(self.proxy.stall))

    def resume(self) -> None:
        self._call(self._run(self.proxy.resume))

    def cut(self) -> None:
        """The server is gone: open connections reset, new ones refused."""
        self._call(self.proxy.close())

    def restore(self) -> None:
        """Listen again on the same port (after `cut`)."""
        self._call(self.proxy.start())

    def stop(self) -> None:
        self._call(self.proxy.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> ProxyThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
