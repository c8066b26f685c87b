"""Running an ASGI app under uvicorn the way `aurum serve` does (the benchmarks reuse it, so a
bare app and the real one are served identically)."""

from __future__ import annotations

import contextlib
import signal
from types import FrameType

from starlette.types import ASGIApp

from app.http.header_limit import DEFAULT_MAX_HEADER_BYTES, header_limited
from app.monitoring.readiness import Phase, ReplicaState


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def run_server(
    app: ASGIApp, *, host: str, port: int, max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
) -> None:
    """Serve until SIGINT/SIGTERM; returns normally so exit hooks (embedded servers) run.
    Request heads over `max_header_bytes` get 431 (app.http.header_limit)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # From the signal on, `/ready` answers 503 (draining) while requests finish.
            replica = getattr(getattr(app, "state", None), "replica", None)
            if isinstance(replica, ReplicaState):
                replica.enter(Phase.DRAINING)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=header_limited(max_header_bytes),
        log_config=None,  # our JSON logging, configured before
        access_log=False,  # one access line per request comes from RequestContextMiddleware
        server_header=False,
        timeout_graceful_shutdown=30,
        proxy_headers=False,  # X-Forwarded-* are read only from AURUM_TRUSTED_PROXY_CIDRS
    )
    # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal. Turn that
    # into a normal exit so the embedded PostgreSQL and Redis are stopped by their exit hooks.
    signal.signal(signal.SIGTERM, _exit_quietly)
    with contextlib.suppress(KeyboardInterrupt):
        Server(config).run()
