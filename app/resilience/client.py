"""The guarded HTTP client: every provider call goes breaker → limiter → quota and cost →
request with timeout → classification → retries, and nothing else reaches a provider.

Order, and why: an open breaker refuses before anything is spent (it is asked once per call
and again before each retry, and told the call's one verdict at its end); the limiter's wait
comes before the quota is counted so a refused wait costs no quota; every attempt (retries
too) counts against the quota and the cost, because the provider counts them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from app.monitoring.metrics import EXTERNAL_REQUEST_DURATION, EXTERNAL_REQUESTS
from app.resilience import call_log
from app.resilience.errors import ProviderRejected, ProviderThrottled, ProviderUnavailable
from app.resilience.guards import ProviderGuard, ProviderGuards
from app.resilience.retry import Outcome, RetryReason, count_retry, judge, parse_retry_after


@dataclass(frozen=True)
class BodyVerdict:
    """What a provider's body says beyond the status: an error sent with HTTP 200, or a
    throttle message."""

    error: str | None = None
    throttled: bool = False


# Collectors pass one of these: it reads a response and finds errors hidden in the body.
BodyInspector = Callable[[httpx.Response], BodyVerdict]


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "")


class GuardedClient:
    def __init__(self, guards: ProviderGuards, http: httpx.AsyncClient) -> None:
        self.guards = guards
        self.http = http
        # Attempts sent per provider by this process (run summaries; metrics have the rest).
        self.attempts: Counter[str] = Counter()

    async def request(
        self,
        provider: str,
        method: str,
        url: str,
        *,
        params: Any = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
        inspect: BodyInspector | None = None,
    ) -> httpx.Response:
        """The provider's response once it is usable, or a ProviderCallError subclass.

        The breaker sees one logical call: one permit covers the call and its retries, and
        one verdict is reported when it ends (success, or failure once its retries are
        spent), so a breaker's `failure_threshold` counts failed calls, not attempts. Before
        each retry the breaker is asked again whether the permit still holds (another call, or
        an operator, may have opened it meanwhile): if not, the call stops there."""
        guard = self.guards[provider]
        permit = await guard.breaker.before_call()
        reported = False
        last_failure = "no attempt made"
        throttled = False
        attempt = 0
        try:
            for attempt in range(1, guard.retry.attempts + 1):
                if attempt > 1 and not await guard.breaker.admits(permit):
                    attempt -= 1
                    break
                await guard.limiter.acquire(throttle_factor=guard.quota.throttle_factor())
                await guard.quota.consume()
                await guard.cost.record()
                self.attempts[provider] += 1
                response, outcome, reason, failure = await self._attempt(
                    guard, method, url, params=params, headers=headers, json=json,
                    inspect=inspect,
                )  # fmt: skip
                if outcome is Outcome.SUCCESS:
                    reported = True
                    await guard.breaker.record_success(permit)
                    await guard.limiter.on_success()
                    assert response is not None
                    return response
                if outcome is Outcome.PERMANENT:
                    raise _rejected(provider, response, failure)  # ours, not the provider's
                last_failure = failure or "unknown failure"
                retry_after = None
                if response is not None:
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                if outcome is Outcome.THROTTLED:
                    throttled = True
                    await guard.limiter.on_throttled(retry_after)
                    await guard.note_throttled()
                if not guard.retry.should_retry(outcome, attempt):
                    break
                if reason is not None:
                    count_retry(provider, reason)
                await guard.retry.wait(attempt, retry_after)
            reported = True
            await guard.breaker.record_failure(last_failure, permit)
        finally:
            if not reported:  # cancelled, refused by our own limits, or a client error
                await guard.breaker.release(permit)
        return _give_up(guard, throttled, last_failure, attempt)

    async def _attempt(
        self,
        guard: ProviderGuard,
        method: str,
        url: str,
        *,
        params: Any,
        headers: dict[str, str] | None,
        json: Any,
        inspect: BodyInspector | None,
    ) -> tuple[httpx.Response | None, Outcome, RetryReason | None, Any]:
        """One HTTP attempt, observed and logged: (response, outcome, retry reason, and the
        failure's description, or the exception for a PERMANENT outcome)."""
        provider = guard.provider
        started = time.perf_counter()
        response: httpx.Response | None = None
        error: BaseException | None = None
        verdict = BodyVerdict()
        try:
            response = await self.http.request(
                method,
                url,
                params=params,
                headers=headers,
                json=json,
                timeout=guard.retry.timeout_seconds,
            )
            if inspect is not None and response.status_code < 500:
                verdict = inspect(response)
        except httpx.HTTPError as exc:
            error = exc
        status = response.status_code if response is not None else None
        outcome, reason = judge(
            status,
            exception=error,
            body_error=verdict.error is not None,
            body_throttled=verdict.throttled,
        )
        _observe(provider, outcome, time.perf_counter() - started)
        described = None if outcome is Outcome.SUCCESS else _describe(response, error, verdict)
        # Last attempt, success and error for the health view; hourly counts for the SLA.
        await call_log.record_outcome(
            guard.redis,
            provider,
            success=outcome is Outcome.SUCCESS,
            error=described,
            http_status=status,
        )
        if outcome is Outcome.PERMANENT:
            return response, outcome, reason, error
        return response, outcome, reason, described


def _observe(provider: str, outcome: Outcome, seconds: float) -> None:
    EXTERNAL_REQUESTS.labels(provider, outcome.value).inc()
    EXTERNAL_REQUEST_DURATION.labels(provider).observe(seconds)


def _describe(
    response: httpx.Response | None, error: BaseException | None, verdict: BodyVerdict
) -> str:
    if error is not None:
        return f"{type(error).__name__}: {error}"[:300] or type(error).__name__
    assert response is not None
    if verdict.error:
        return f"HTTP {response.status_code} with an error body: {verdict.error}"[:300]
    return f"HTTP {response.status_code}: {_excerpt(response, 120)}"


def _rejected(
    provider: str, response: httpx.Response | None, error: BaseException | None
) -> ProviderRejected:
    if response is None:
        return ProviderRejected(f"{provider}: the request could not be sent: {error}")
    return ProviderRejected(
        f"{provider} rejected the request with HTTP {response.status_code}: {_excerpt(response)}",
        details={
            "status": response.status_code,
            "url": str(response.request.url.copy_with(query=None)),
        },
    )


def _give_up(
    guard: ProviderGuard, throttled: bool, last_failure: str, attempts: int
) -> httpx.Response:
    if throttled:
        raise ProviderThrottled(
            f"{guard.provider} kept throttling after {attempts} attempts ({last_failure}); the "
            "outbound rate was cut and recovers by itself.",
            details={"attempts": attempts, "last_failure": last_failure},
        )
    raise ProviderUnavailable(
        f"{guard.provider} failed {attempts} attempts; last: {last_failure}",
        details={"attempts": attempts, "last_failure": last_failure},
    )
