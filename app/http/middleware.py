"""Pure ASGI middleware (no BaseHTTPMiddleware on the hot path: it costs a task group and
memory streams per request)."""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import send_error
from app.observability.context import request_id_var

access_log = logging.getLogger("aurum.access")
log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# A caller-supplied id is kept only if it is short and plain, so it cannot forge log lines.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


class RequestContextMiddleware:
    """Gives every request an id (kept from `X-Request-ID` when sane), returns it in the
    response header, writes one access log line per request, and turns an unhandled error
    into the JSON 500 body (it sits inside Starlette's outermost error middleware, which
    would otherwise answer in plain text without the request id)."""

    def __init__(self, app: ASGIApp, *, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # 32 hex digits, as uuid4().hex, without building a UUID object per request.
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started_response:
                raise
            await _send_internal_error(send_with_id)
        finally:
            if self.access_log_enabled:
                access_log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            request_id_var.reset(token)


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
