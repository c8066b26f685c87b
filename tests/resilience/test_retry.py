"""Retry classification, backoff with full jitter, and Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import REGISTRY

from app.resilience.config import RetryConfig
from app.resilience.retry import (
    Outcome,
    RetryPolicy,
    RetryReason,
    classify,
    count_retry,
    judge,
    parse_retry_after,
)

REQUEST = httpx.Request("GET", "https://api.example.test/data")


def seeded(seed: int) -> random.Random:
    """Repeatable jitter draws (jitter never needed cryptographic randomness)."""
    return random.Random(seed)  # noqa: S311


@pytest.mark.parametrize(
    ("status", "exception", "body_error", "body_throttled", "outcome", "reason"),
    [
        (200, None, False, False, Outcome.SUCCESS, None),
        (204, None, False, False, Outcome.SUCCESS, None),
        (200, None, True, False, Outcome.RETRYABLE, RetryReason.BODY_ERROR),  # World Bank, EIA
        (200, None, True, True, Outcome.THROTTLED, RetryReason.THROTTLED),
        (400, None, False, False, Outcome.PERMANENT, None),
        (404, None, False, False, Outcome.PERMANENT, None),
        (404, None, True, False, Outcome.PERMANENT, None),  # the status decides
        (429, None, False, False, Outcome.THROTTLED, RetryReason.THROTTLED),
        (500, None, False, False, Outcome.RETRYABLE, RetryReason.SERVER_ERROR),
        (503, None, False, False, Outcome.RETRYABLE, RetryReason.SERVER_ERROR),
        (503, None, False, True, Outcome.THROTTLED, RetryReason.THROTTLED),
        (None, httpx.ReadTimeout("slow", request=REQUEST), False, False, Outcome.RETRYABLE,
         RetryReason.TIMEOUT),
        (None, httpx.ConnectTimeout("slow", request=REQUEST), False, False, Outcome.RETRYABLE,
         RetryReason.TIMEOUT),
        (None, TimeoutError(), False, False, Outcome.RETRYABLE, RetryReason.TIMEOUT),
        (None, httpx.ConnectError("refused", request=REQUEST), False, False, Outcome.RETRYABLE,
         RetryReason.CONNECTION),
        (None, httpx.RemoteProtocolError("closed", request=REQUEST), False, False,
         Outcome.RETRYABLE, RetryReason.CONNECTION),
        (None, ConnectionResetError(), False, False, Outcome.RETRYABLE, RetryReason.CONNECTION),
        # Our own mistakes are not the provider's failures, and retrying will not fix them.
        (None, httpx.UnsupportedProtocol("ftp://"), False, False, Outcome.PERMANENT, None),
        (None, ValueError("bug"), False, False, Outcome.PERMANENT, None),
    ],
)  # fmt: skip
def test_classification(
    status: int | None,
    exception: BaseException | None,
    body_error: bool,
    body_throttled: bool,
    outcome: Outcome,
    reason: RetryReason | None,
) -> None:
    kwargs = {"exception": exception, "body_error": body_error, "body_throttled": body_throttled}
    assert classify(status, **kwargs) is outcome
    assert judge(status, **kwargs) == (outcome, reason)


def test_classification_needs_a_status_or_an_exception() -> None:
    with pytest.raises(ValueError, match="status or an exception"):
        classify(None, exception=None, body_error=False)


def test_attempts_cap_at_three() -> None:
    policy = RetryPolicy(RetryConfig(attempts=3))
    assert policy.attempts == 3
    assert [policy.should_retry(Outcome.RETRYABLE, n) for n in (1, 2, 3)] == [True, True, False]
    assert policy.should_retry(Outcome.THROTTLED, 2)
    assert not policy.should_retry(Outcome.PERMANENT, 1)
    assert not policy.should_retry(Outcome.SUCCESS, 1)


async def test_a_call_that_keeps_failing_is_tried_three_times() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(RetryConfig(attempts=3), rng=seeded(7), sleep=sleep)
    attempt = 0
    while True:
        attempt += 1
        outcome = classify(503)
        if not policy.should_retry(outcome, attempt):
            break
        await policy.wait(attempt)
    assert attempt == 3
    assert len(slept) == 2 and 0 <= slept[0] <= 0.5 and 0 <= slept[1] <= 1.0


def test_delays_use_full_jitter_within_exponential_bounds() -> None:
    config = RetryConfig(base_delay_seconds=0.5, backoff_factor=2, max_delay_seconds=3)
    policy = RetryPolicy(config, rng=seeded(42))
    assert [policy.ceiling(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    for attempt in (1, 2, 3, 4, 5):
        draws = [policy.delay(attempt) for _ in range(2000)]
        ceiling = policy.ceiling(attempt)
        assert all(0 <= d <= ceiling for d in draws)
        # Full jitter: the whole range is used, not a fixed wait plus a little noise.
        assert min(draws) < 0.02 * ceiling and max(draws) > 0.98 * ceiling
    # Seeded: the same draws every time.
    first = RetryPolicy(config, rng=seeded(1))
    second = RetryPolicy(config, rng=seeded(1))
    assert [first.delay(n) for n in (1, 2, 3)] == [second.delay(n) for n in (1, 2, 3)]


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    policy = RetryPolicy(RetryConfig(backoff_factor=2, max_delay_seconds=30))
    assert policy.ceiling(5000) == 30


def test_retry_after_is_the_minimum_wait_capped_at_max_delay() -> None:
    config = RetryConfig(base_delay_seconds=0.5, backoff_factor=2, max_delay_seconds=30)
    policy = RetryPolicy(config, rng=seeded(3))
    assert all(policy.delay(1, retry_after=5) == 5 for _ in range(100))  # backoff < 5
    assert all(policy.delay(1, retry_after=120) == 30 for _ in range(100))
    # A short Retry-After does not shorten the backoff.
    waits = [policy.delay(6, retry_after=0.1) for _ in range(500)]
    assert all(0.1 <= w <= 16 for w in waits) and max(waits) > 10


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-5", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
        # The obsolete forms HTTP recipients must still accept (RFC 9110 5.6.7).
        ("Wednesday, 21-Oct-15 07:28:00 GMT", 30.0),
        ("Wed Oct 21 07:28:00 2015", 30.0),
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_parse_retry_after_defaults_to_the_current_time() -> None:
    far = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT")
    assert far is not None and far > 365 * 24 * 3600


def test_retries_are_counted_by_reason() -> None:
    labels = {"provider": "pretry", "reason": "throttled"}
    before = REGISTRY.get_sample_value("aurum_external_retries_total", labels) or 0.0
    count_retry("pretry", RetryReason.THROTTLED)
    assert REGISTRY.get_sample_value("aurum_external_retries_total", labels) == before + 1
