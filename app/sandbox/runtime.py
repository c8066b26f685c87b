"""What every provider endpoint shares: the sandbox state, request counting, fault injection
and a per-credential throttle."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from app.sandbox.faults import FaultInjector, FaultKind, FaultRule, RequestStats
from app.sandbox.store import SandboxData

MALFORMED_BODY = b'{"status": "ok", "results": [<html><body>Service Unavailable</body></html>'


@dataclass(frozen=True)
class ProviderProfile:
    """How one provider says things: its error envelope, its HTTP-200 error, its throttle."""

    name: str
    prefix: str  # path of its base URL inside the sandbox, e.g. /fred/
    error: Callable[[int, str], Response]
    error_200: Callable[[], Response]
    throttle: Callable[[int, int | None], Response]


class TokenThrottle:
    """At most `rate` requests per second per credential (a sliding one-second window)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, token: str) -> bool:
        now = time.monotonic()
        with self._lock:
            window = self._seen.setdefault(token, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.rate:
                return False
            window.append(now)
            return True


@dataclass
class Sandbox:
    data: SandboxData
    enforce_limits: bool = True
    faults: FaultInjector = field(default_factory=FaultInjector)
    stats: RequestStats = field(default_factory=RequestStats)
    noaa_throttle: TokenThrottle = field(default_factory=lambda: TokenThrottle(5))
    stopping: threading.Event = field(default_factory=threading.Event)


Handler = Callable[[Request, Sandbox], Awaitable[Response]]


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def endpoint(
    profile: ProviderProfile, name: str, handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a provider handler: count it under `name`, then let an injected fault act."""

    async def run(request: Request) -> Response:
        sandbox = sandbox_of(request)
        sandbox.stats.hit(profile.name, name)
        path = request.url.path
        sub = path[path.find(profile.prefix) + len(profile.prefix) :]
        rule = sandbox.faults.take(profile.name, sub)
        if rule is None:
            return await handler(request, sandbox)
        return await _apply(rule, profile, request, sandbox, handler)

    return run


async def _apply(
    rule: FaultRule,
    profile: ProviderProfile,
    request: Request,
    sandbox: Sandbox,
    handler: Handler,
) -> Response:
    if rule.kind is FaultKind.LATENCY:
        await _wait(request, sandbox, 1.0 if rule.delay_seconds is None else rule.delay_seconds)
        return await handler(request, sandbox)
    if rule.kind is FaultKind.TIMEOUT:
        await _wait(request, sandbox, 60.0 if rule.delay_seconds is None else rule.delay_seconds)
        return profile.error(504, "Gateway Timeout")
    if rule.kind is FaultKind.STATUS:
        return profile.error(rule.status or 503, "Service Unavailable")
    if rule.kind is FaultKind.MALFORMED:
        return Response(MALFORMED_BODY, 200, media_type="application/json")
    if rule.kind is FaultKind.ERROR_200:
        return profile.error_200()
    if rule.kind is FaultKind.THROTTLE:
        return profile.throttle(rule.status or 429, rule.retry_after)
    full = await handler(request, sandbox)
    body = bytes(full.body)
    headers = {k: v for k, v in full.headers.items() if k.lower() != "content-length"}
    return Response(body[: len(body) // 2], full.status_code, headers=headers)


async def _wait(request: Request, sandbox: Sandbox, seconds: float) -> None:
    """Sleep, but give up early when the client hangs up or the sandbox stops."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, 0.1))
        if sandbox.stopping.is_set() or await request.is_disconnected():
            return


def with_retry_after(response: Response, retry_after: int | None) -> Response:
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
