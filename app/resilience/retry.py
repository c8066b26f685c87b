"""Which provider answers are worth another attempt, and how long to wait before it.

`classify()` sorts one attempt's result: SUCCESS; RETRYABLE (5xx, timeouts, connection errors,
an error envelope sent with a 2xx as the World Bank and older EIA do); THROTTLED (429 or a
throttle body: retryable, and a signal for the adaptive rate limiter); PERMANENT (any other
4xx, or an error raised on our side: never retried, never a breaker failure).

`RetryPolicy` waits with exponential backoff and full jitter: before attempt n+1, a uniform
draw from 0 to min(max_delay, base * factor ** (n - 1)). A provider's `Retry-After` is the
minimum wait, but never more than `max_delay_seconds`: a provider asking for longer gets its
retry early, and the circuit breaker and adaptive limiter are what back off further.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

import httpx

from app.monitoring.metrics import EXTERNAL_RETRIES
from app.resilience.config import RetryConfig


class Outcome(StrEnum):
    SUCCESS = "success"
    RETRYABLE = "retryable"
    THROTTLED = "throttled"
    PERMANENT = "permanent"


class RetryReason(StrEnum):
    """The `reason` label of aurum_external_retries_total."""

    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BODY_ERROR = "body_error"


# Raised when no usable answer arrived in time.
_TIMEOUTS: tuple[type[BaseException], ...] = (httpx.TimeoutException, TimeoutError)
# Raised when the connection failed or broke: the provider (or the path to it) is at fault.
# Other errors (invalid URL, decoding, too many redirects, a bug) are ours: PERMANENT.
_CONNECTION: tuple[type[BaseException], ...] = (
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
    ConnectionError,
)


def judge(
    status: int | None,
    *,
    exception: BaseException | None = None,
    body_error: bool = False,
    body_throttled: bool = False,
) -> tuple[Outcome, RetryReason | None]:
    """The outcome and, when it is retryable, the reason to count. See `classify`."""
    if exception is not None:
        if isinstance(exception, _TIMEOUTS):
            return Outcome.RETRYABLE, RetryReason.TIMEOUT
        if isinstance(exception, _CONNECTION):
            return Outcome.RETRYABLE, RetryReason.CONNECTION
        return Outcome.PERMANENT, None
    if status is None:
        raise ValueError("classify() needs a status or an exception")
    if status == 429 or body_throttled:
        return Outcome.THROTTLED, RetryReason.THROTTLED
    if status >= 500:
        return Outcome.RETRYABLE, RetryReason.SERVER_ERROR
    if status >= 400:
        return Outcome.PERMANENT, None
    if body_error:
        return Outcome.RETRYABLE, RetryReason.BODY_ERROR
    return Outcome.SUCCESS, None


def classify(
    status: int | None,
    *,
    exception: BaseException | None = None,
    body_error: bool = False,
    body_throttled: bool = False,
) -> Outcome:
    """Sort one attempt: `status` is the HTTP status (None when `exception` ended the attempt
    before one arrived); `body_error` says a 2xx body held an error envelope, `body_throttled`
    that the body (whatever the status) said slow down. RETRYABLE and THROTTLED are provider
    failures for the circuit breaker; PERMANENT and SUCCESS are not."""
    return judge(status, exception=exception, body_error=body_error, body_throttled=body_throttled)[
        0
    ]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP-date (relative to
    `now`, default the current time). None when absent or unreadable; never negative."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


Sleep = Callable[[float], Awaitable[None]]


class RetryPolicy:
    """Attempt limits and waits from a RetryConfig; `rng` and `sleep` can be injected."""

    def __init__(
        self,
        config: RetryConfig,
        *,
        rng: random.Random | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.config = config
        # Jitter spreads replicas' retries apart; it needs no cryptographic quality.
        self._rng = rng or random.Random()  # noqa: S311
        self._sleep = sleep or asyncio.sleep

    @property
    def attempts(self) -> int:
        """Total attempts, the first included (at least 1)."""
        return max(1, self.config.attempts)

    @property
    def timeout_seconds(self) -> float:
        return self.config.timeout_seconds

    def should_retry(self, outcome: Outcome, attempt: int) -> bool:
        """After attempt number `attempt` (1-based) ended with `outcome`."""
        return outcome in (Outcome.RETRYABLE, Outcome.THROTTLED) and attempt < self.attempts

    def ceiling(self, attempt: int) -> float:
        """The most the jittered wait after attempt `attempt` can be."""
        c = self.config
        try:
            grown = c.base_delay_seconds * c.backoff_factor ** max(0, attempt - 1)
        except OverflowError:
            grown = c.max_delay_seconds
        return max(0.0, min(c.max_delay_seconds, grown))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after attempt `attempt` failed: full jitter, raised to the
        provider's `retry_after` (capped at max_delay_seconds) when it gave one."""
        wait = self._rng.uniform(0.0, self.ceiling(attempt))
        if retry_after is not None:
            wait = max(wait, min(max(0.0, retry_after), self.config.max_delay_seconds))
        return wait

    async def wait(self, attempt: int, retry_after: float | None = None) -> float:
        """Sleep `delay(attempt, retry_after)`; returns the seconds waited."""
        seconds = self.delay(attempt, retry_after)
        await self._sleep(seconds)
        return seconds


def count_retry(provider: str, reason: RetryReason) -> None:
    """Count one retry in aurum_external_retries_total."""
    EXTERNAL_RETRIES.labels(provider, reason.value).inc()
