"""The real app served over a real socket (uvicorn in a thread of the test process), for
clients that must talk HTTP to it, such as the operator CLI."""

from __future__ import annotations

import threading
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
        server.should_exit = True
        thread.join(timeout=30)
