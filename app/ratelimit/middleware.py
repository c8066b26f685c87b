"""Pure ASGI rate limiting. It runs before routing (so rules match path prefixes) and after
authentication (so the principal is known)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.errors import send_error
from app.monitoring.metrics import RATELIMIT_REJECTIONS
from app.ratelimit.keys import Caller, CallerResolver
from app.ratelimit.limiter import Decision, RateLimiter
from app.ratelimit.rules import describe

_OURS = frozenset((b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset", b"retry-after"))


def rate_limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    """`RateLimit-Limit`, `-Remaining`, `-Reset` (seconds) for the tightest limit; and
    `Retry-After` when refused."""
    headers = [
        (b"ratelimit-limit", b"%d" % decision.limit.amount),
        (b"ratelimit-remaining", b"%d" % decision.remaining),
        (b"ratelimit-reset", b"%d" % decision.reset_in),
    ]
    if not decision.allowed:
        headers.append((b"retry-after", b"%d" % max(1, decision.reset_in)))
    return headers


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, callers: CallerResolver) -> None:
        self.app = app
        self.limiter = limiter
        self.callers = callers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self.limiter.rules.match(scope["path"])
        caller = self.callers.resolve(scope) if rule is not None else None
        if rule is None or caller is None:
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.hit(rule, caller.key)
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            RATELIMIT_REJECTIONS.labels(rule.name).inc()
            await _send_refusal(send, decision, caller, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = MutableHeaders(scope=message).raw
                # Ours replace any the app set: each header appears exactly once.
                if any(name in _OURS for name, _ in raw):
                    raw[:] = [item for item in raw if item[0] not in _OURS]
                raw.extend(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _send_refusal(
    send: Send, decision: Decision, caller: Caller, headers: list[tuple[bytes, bytes]]
) -> None:
    retry_after = max(1, decision.reset_in)
    limit = describe(decision.limit)
    message = f"Rate limit {limit} exceeded for {caller.label}; retry in {retry_after} s."
    details = {
        "rule": decision.rule.name,
        "limit": limit,
        "key": caller.key,
        "retry_after_seconds": retry_after,
    }
    await send_error(send, 429, message, code="rate_limited", details=details, headers=headers)
