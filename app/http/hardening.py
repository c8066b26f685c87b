"""Security headers on every response and a request body size limit, as one pure ASGI
middleware (both wrap the same request, so one layer instead of two)."""

from __future__ import annotations

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
HSTS = "max-age=31536000; includeSubDomains"

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_VARY = (b"vary", b"Accept-Encoding")


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without Content-Length grows past the limit; FastAPI
    re-raises HTTPExceptions from body parsing, so the app's handler answers the JSON 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_message(limit))


def _too_large_message(limit: int) -> str:
    return f"The request body is larger than the limit of {limit} bytes (AURUM_MAX_BODY_BYTES)."


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects malformed framing before we see it
    return None


class HardeningMiddleware:
    """Adds `X-Content-Type-Options`, `Referrer-Policy`, `X-Frame-Options`, a CSP (relaxed on
    the docs pages), and HSTS when the request came over https; a header the route set itself
    is kept. Refuses bodies over `max_body_bytes` with 413: by Content-Length before the app
    runs, and while streaming for chunked bodies."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        proxies: TrustedProxies,
        docs_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.proxies = proxies
        self.docs_paths = docs_paths
        strict = (b"content-security-policy", STRICT_CSP.encode())
        docs = (b"content-security-policy", DOCS_CSP.encode())
        hsts = (b"strict-transport-security", HSTS.encode())
        # Precomputed per (https, docs) so a request does no string work.
        self._headers = {
            (False, False): (*_COMMON, strict),
            (False, True): (*_COMMON, docs),
            (True, False): (*_COMMON, strict, hsts),
            (True, True): (*_COMMON, docs, hsts),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers[self.proxies.is_https(scope), scope["path"] in self.docs_paths]
        started = False

        async def send_hardened(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                raw = message["headers"] = list(message.get("headers", ()))
                present = {name for name, _ in raw}
                raw.extend(item for item in extra if item[0] not in present)
                if b"vary" in present:
                    _vary_on_encoding(raw)
                else:
                    raw.append(_VARY)
            await send(message)

        length = _content_length(scope)
        if length is not None and length > self.max_body_bytes:
            await _send_too_large(send_hardened, self.max_body_bytes)
            return
        if length is None:
            # With a Content-Length the server already stops the body at that size; without
            # one (chunked), count what arrives.
            receive = _limited(receive, self.max_body_bytes)
        try:
            await self.app(scope, receive, send_hardened)
        except BodyTooLarge:
            # Reached here only when no handler turned it into a response (e.g. a plain ASGI
            # route read the body); once the response has started there is nothing to send.
            if started:
                raise
            await _send_too_large(send_hardened, self.max_body_bytes)


def _vary_on_encoding(raw: list[tuple[bytes, bytes]]) -> None:
    """Gzip is skipped for clients that don't accept it (app.http.compression), but every
    representation still depends on Accept-Encoding: caches must be told so."""
    for index, (name, value) in enumerate(raw):
        if name == b"vary" and b"accept-encoding" not in value.lower():
            raw[index] = (name, value + b", Accept-Encoding")
            return


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
