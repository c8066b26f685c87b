"""Pure ASGI middleware (no BaseHTTPMiddleware on the hot path: it costs a task group and
memory streams per request)."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.health.view_cache import ChangeCounter
from app.http.errors import send_error
from app.monitoring.http_metrics import HttpMetrics
from app.observability.access import log_access
from app.observability.context import request_id_var

log = logging.getLogger(__name__)
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

REQUEST_ID_HEADER = b"x-request-id"
# A caller-supplied id is kept only if it is short and plain, so it cannot forge log lines.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


# Where inner layers leave headers for the response (the rate limiter's RateLimit-*): the
# edge adds them, replacing any of the same names the app set, so each appears once.
RESPONSE_HEADERS = "response_headers"

# The edge asks this of the hardening layer: the security headers for a request's response.
HeadersFor = Callable[[Scope], Sequence[tuple[bytes, bytes]]]


class RequestContextMiddleware:
    """The edge of the stack, and its only response hook. It gives every request an id (kept
    from `X-Request-ID` when sane) and writes one access log line per request; on the way out
    it adds the request id, the security headers (`headers_for`, from app.http.hardening),
    the headers inner layers left in `state["response_headers"]`, and records the HTTP
    metrics. When a request that may change state (not GET, HEAD or OPTIONS) is answered, it
    counts a change in `changes`, before the caller can see the answer: cached views computed
    before it are not served again (app/health/view_cache.py). It also turns an unhandled
    error into the JSON 500 body (it sits inside Starlette's outermost error middleware,
    which would otherwise answer in plain text).

    One hook instead of one per concern: each pure ASGI layer that wraps `send` costs a
    closure and a call per message on every request, and on this path that added up to a
    measurable share of a request's CPU (bench/api_overhead)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log_enabled: bool = True,
        headers_for: HeadersFor | None = None,
        metrics: HttpMetrics | None = None,
        changes: ChangeCounter | None = None,
    ) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled
        self.headers_for = headers_for
        self.metrics = metrics
        self.changes = changes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # 32 hex digits, as uuid4().hex, without building a UUID object per request.
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()
        token = request_id_var.set(request_id)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        started_response = False
        changes = self.changes if scope["method"] not in _READ_METHODS else None

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                raw = message["headers"] = list(message.get("headers", ()))
                _add_headers(raw, scope, state, request_id, self.headers_for)
                if changes is not None:
                    changes.bump()
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started_response:
                raise
            await _send_internal_error(send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.record(scope, status, seconds)
            if self.access_log_enabled:
                log_access(request_id, scope["method"], scope["path"], status, seconds)
            request_id_var.reset(token)


def _add_headers(
    raw: list[tuple[bytes, bytes]],
    scope: Scope,
    state: dict[str, Any],
    request_id: str,
    headers_for: HeadersFor | None,
) -> None:
    ours: list[tuple[bytes, bytes]] = [*state.get(RESPONSE_HEADERS, ()), _id_header(request_id)]
    # Ours replace any the app set: each appears exactly once.
    names = {name for name, _ in ours}
    present = {name for name, _ in raw}
    if not present.isdisjoint(names):
        raw[:] = [item for item in raw if item[0] not in names]
    raw.extend(ours)
    if headers_for is not None:
        for item in headers_for(scope):
            if item[0] not in present:  # a security header the route set itself is kept
                raw.append(item)
            elif item[0] == b"vary":
                _merge_vary(raw, item[1])


def _id_header(request_id: str) -> tuple[bytes, bytes]:
    return (REQUEST_ID_HEADER, request_id.encode("latin-1"))


def _merge_vary(raw: list[tuple[bytes, bytes]], value: bytes) -> None:
    for index, (name, present) in enumerate(raw):
        if name == b"vary" and value.lower() not in present.lower():
            raw[index] = (name, present + b", " + value)
            return


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_REQUEST_ID.match(candidate) else None
    return None


async def _send_internal_error(send: Send) -> None:
    # Never leak internals; the request id ties the response to the logged traceback.
    await send_error(
        send, 500, "An unexpected error occurred; report the request id to the operators."
    )
