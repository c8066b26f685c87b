"""Pure ASGI rate limiting. It runs before routing (so rules match path prefixes) and after
authentication (so the principal is known), inside the edge middleware (app.http.middleware),
which puts its headers on the response."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.errors import send_error
from app.http.middleware import RESPONSE_HEADERS
from app.monitoring.metrics import RATELIMIT_REJECTIONS
from app.ratelimit.keys import Caller, CallerResolver
from app.ratelimit.limiter import Decision, RateLimiter
from app.ratelimit.rules import describe


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
        # The edge middleware adds these to the response (refusal or not), replacing any the
        # app set: one response hook for the whole stack instead of a send wrapper here.
        headers = rate_limit_headers(decision)
        scope["state"][RESPONSE_HEADERS] = headers
        if not decision.allowed:
            RATELIMIT_REJECTIONS.labels(rule.name).inc()
            await _send_refusal(send, decision, caller)
            return
        await self.app(scope, receive, send)


async def _send_refusal(send: Send, decision: Decision, caller: Caller) -> None:
    retry_after = max(1, decision.reset_in)
    limit = describe(decision.limit)
    message = f"Rate limit {limit} exceeded for {caller.label}; retry in {retry_after} s."
    details = {
        "rule": decision.rule.name,
        "limit": limit,
        "key": caller.key,
        "retry_after_seconds": retry_after,
    }
    await send_error(send, 429, message, code="rate_limited", details=details)
