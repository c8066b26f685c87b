"""Security headers on every response (added by the edge middleware's one response hook) and
a request body size limit (pure ASGI middleware)."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import send_error
from app.http.proxies import TrustedProxies

# The API answers JSON: nothing in it may load, run or be framed.
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# /docs and /redoc are HTML pages that FastAPI serves with Swagger UI / ReDoc from a CDN and an
# inline bootstrap script; they get a CSP that allows exactly that, and still no framing.
DOCS_CSP = (
    "default-src 'none'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The ops dashboard (/ui): its own scripts and styles only, never inline ones.
UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
UI_PREFIX = "/ui"
HSTS = "max-age=31536000; includeSubDomains"

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_VARY = (b"vary", b"Accept-Encoding")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without Content-Length grows past the limit; FastAPI
    re-raises HTTPExceptions from body parsing, so the app's handler answers the JSON 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_message(limit))


def _too_large_message(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes (AURUM_MAX_BODY_BYTES)."


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length, whether the body is chunked) from the request headers."""
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            # The server rejects malformed framing before we see it.
            with contextlib.suppress(ValueError):
                length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


class SecurityHeaders:
    """The headers every response gets: `X-Content-Type-Options`, `Referrer-Policy`,
    `X-Frame-Options`, a CSP (relaxed on the docs pages), HSTS when the request came over
    https, and `Vary: Accept-Encoding` (gzip is skipped for clients that don't accept it, see
    app.http.compression, but the representation still depends on it: caches must know).
    Added by the edge middleware (app.http.middleware); a header the route set is kept."""

    def __init__(self, proxies: TrustedProxies, docs_paths: frozenset[str] = frozenset()) -> None:
        self.proxies = proxies
        self.docs_paths = docs_paths
        hsts = (b"strict-transport-security", HSTS.encode())
        # Precomputed per (https, page kind) so a request does no string work.
        self._headers: dict[tuple[bool, str], tuple[tuple[bytes, bytes], ...]] = {}
        for kind, csp in (("api", STRICT_CSP), ("docs", DOCS_CSP), ("ui", UI_CSP)):
            policy = (b"content-security-policy", csp.encode())
            self._headers[False, kind] = (*_COMMON, policy, _VARY)
            self._headers[True, kind] = (*_COMMON, policy, hsts, _VARY)

    def __call__(self, scope: Scope) -> tuple[tuple[bytes, bytes], ...]:
        path: str = scope["path"]
        if path in self.docs_paths:
            kind = "docs"
        elif path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
            kind = "ui"
        else:
            kind = "api"
        return self._headers[self.proxies.is_https(scope), kind]


class BodyLimitMiddleware:
    """Refuses bodies over `max_body_bytes` with 413: by Content-Length before the app runs,
    and while streaming for chunked bodies."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, chunked = _framing(scope)
        if length is not None:
            # With a Content-Length the server already stops the body at that size.
            if length > self.max_body_bytes:
                await _send_too_large(send, self.max_body_bytes)
                return
            await self.app(scope, receive, send)
            return
        if not chunked and scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)  # no body can follow (HTTP/1.1 framing)
            return
        # Without a Content-Length, count what arrives.
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, _limited(receive, self.max_body_bytes), send_tracked)
        except BodyTooLarge:
            # Reached here only when no handler turned it into a response (e.g. a plain ASGI
            # route read the body); once the response has started there is nothing to send.
            if started:
                raise
            await _send_too_large(send, self.max_body_bytes)


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return receive_limited


async def _send_too_large(send: Send, limit: int) -> None:
    # The client may still be sending; tell it this connection will not read the rest.
    await send_error(send, 413, _too_large_message(limit), headers=[(b"connection", b"close")])


def add_cors(app: Starlette, origins: list[str]) -> None:
    """Starlette's CORSMiddleware (pure ASGI) for the allow-listed origins. No credentials:
    callers authenticate with headers (API key, bearer token), never cookies."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "If-Match", "X-API-Key", "X-Request-ID"],
        expose_headers=[
            "ETag",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "Retry-After",
            "X-Request-ID",
        ],
        allow_credentials=False,
        max_age=600,
    )
