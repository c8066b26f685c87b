"""Answer GET requests before routing.

Some responses are already in this replica's memory as encoded bytes: fresh read-API pages
(app/read_api/fast_path.py) and fresh health views (app/health/fast_path.py); well-formed
read-API requests are also answered here from PostgreSQL with the route's own code. Sending
them from here skips FastAPI's routing, request object, dependency solving and response
object, which together cost more than the rest of the request (bench/api_overhead). The layer sits
innermost, inside authentication, rate limiting and authorization (added first in app.main),
so every request it answers was still authenticated, counted and authorized; the edge adds
the request id, security and RateLimit-* headers and the access line as for any response.

Each answerer owns a path prefix and returns `None` for anything it cannot answer, which then
goes to the route as usual.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

# status, headers, body
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
Answerer = Callable[[Scope], Awaitable[Answer | None]]


class MemoryAnswers:
    def __init__(self, app: ASGIApp, *, answerers: Sequence[tuple[str, Answerer]]) -> None:
        self.app = app
        self.answerers = tuple(answerers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            for prefix, answerer in self.answerers:
                if path.startswith(prefix):
                    answer = await answerer(scope)
                    if answer is not None:
                        status, headers, body = answer
                        await send(
                            {"type": "http.response.start", "status": status, "headers": headers}
                        )
                        await send({"type": "http.response.body", "body": body})
                        return
                    break
        await self.app(scope, receive, send)


def json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
