"""The real app served over a real socket (uvicorn in a thread of the test process), for
clients that must talk HTTP to it, such as the operator CLI."""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from app.embedded.ports import free_port, wait_for_port
from app.main import create_app
from app.settings import Settings


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """`create_app(settings)` with its lifespan, on a free loopback port; yields its base URL
    and stops it (lifespan shutdown included) at the end."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"live-app-{port}", daemon=True)
    thread.start()
    try:
        wait_for_port("127.0.0.1", port, timeout=60, what="the live app")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(server, thread)


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    """Stop the server; one that does not stop fails loudly here. A live app left running
    keeps its scheduler (often the leader) and would take the runs later tests queue, so
    their failures would point far from the cause."""
    server.should_exit = True
    thread.join(timeout=30)
    if thread.is_alive():
        server.force_exit = True
        thread.join(timeout=10)
    if thread.is_alive():
        frame = sys._current_frames().get(thread.ident or -1)
        stack = "".join(traceback.format_stack(frame)) if frame else "(no frame)"
        raise RuntimeError(f"the live app ({thread.name}) did not stop in 40 s:\n{stack}")
