"""The guarded client end to end against a real local HTTP server standing in for a provider:
retries stop at 3, client errors are not retried and do not trip the breaker, throttling cuts
the rate, bodies with hidden errors are retried, the breaker opens and refuses, and the quota
stops calls at its limit until the runbook's `redis-cli DEL` resets it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from redis.asyncio import Redis

from app.resilience.client import BodyVerdict, GuardedClient
from app.resilience.config import (
    BreakerConfig,
    QuotaConfig,
    RateConfig,
    ResilienceConfig,
    RetryConfig,
)
from app.resilience.errors import (
    CircuitOpen,
    ProviderRejected,
    ProviderThrottled,
    ProviderUnavailable,
    QuotaExhausted,
)
from app.resilience.guards import ProviderGuards
from tests.support.fake_provider import FakeProvider, Reply


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    server = FakeProvider().start()
    yield server
    server.stop()


@pytest.fixture
def provider(fake: FakeProvider) -> str:
    fake.reset()
    return f"p{uuid.uuid4().hex[:8]}"


def _config(provider: str, **overrides: object) -> ResilienceConfig:
    values: dict[str, object] = {
        "provider": provider,
        "rate": RateConfig(requests_per_second=200, burst=5, recover_after_seconds=0.2),
        "quota": QuotaConfig(daily=1000, hourly=500),
        "breaker": BreakerConfig(failure_threshold=5, open_seconds=60),
        "retry": RetryConfig(
            attempts=3, base_delay_seconds=0.01, max_delay_seconds=0.3, timeout_seconds=0.5
        ),
    }
    values.update(overrides)
    return ResilienceConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
async def make_client(redis_url: str) -> AsyncIterator[object]:
    made: list[tuple[ProviderGuards, httpx.AsyncClient, Redis]] = []

    async def make(config: ResilienceConfig) -> GuardedClient:
        redis = Redis.from_url(redis_url, decode_responses=True)
        guards = ProviderGuards(redis, {config.provider: config}, replica="test")
        http = httpx.AsyncClient()
        made.append((guards, http, redis))
        return GuardedClient(guards, http)

    yield make
    for guards, http, redis in made:
        await guards.aclose()
        await http.aclose()
        await redis.aclose()


async def test_a_good_answer_counts_one_request(make_client, fake, provider, redis_url) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider))
    response = await client.request(provider, "GET", f"{fake.url}/series")
    assert response.json() == {"ok": True}
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    redis = Redis.from_url(redis_url, decode_responses=True)
    assert await redis.get(f"{provider}:quota:daily:{today}") == "1"
    await redis.aclose()


async def test_retries_stop_at_three(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider))
    fake.default = Reply(status=503, body={"error": "down"})
    with pytest.raises(ProviderUnavailable, match="failed 3 attempts"):
        await client.request(provider, "GET", f"{fake.url}/data")
    assert fake.count("/data") == 3


async def test_a_transient_failure_is_retried_to_success(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider))
    fake.script(Reply(status=500), Reply(status=502))
    response = await client.request(provider, "GET", f"{fake.url}/data")
    assert response.status_code == 200 and fake.count("/data") == 3


async def test_client_errors_are_not_retried_nor_held_against_the_provider(
    make_client,
    fake,
    provider,  # type: ignore[no-untyped-def]
) -> None:
    client = await make_client(_config(provider))
    fake.default = Reply(status=400, body={"error_code": 400, "error_message": "Bad Request."})
    for _ in range(6):
        with pytest.raises(ProviderRejected, match="HTTP 400"):
            await client.request(provider, "GET", f"{fake.url}/data")
    assert fake.count("/data") == 6
    snapshot = await client.guards[provider].breaker.snapshot()
    assert snapshot["state"] == "closed" and snapshot["consecutive_failures"] == 0


async def test_throttling_cuts_the_rate_and_honours_retry_after(
    make_client, fake, provider
) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider))
    fake.script(Reply(status=429, headers={"Retry-After": "1"}))
    response = await client.request(provider, "GET", f"{fake.url}/data")
    assert response.status_code == 200
    arrivals = [t for t, _ in fake.arrivals]
    assert arrivals[1] - arrivals[0] >= 0.25  # waited (Retry-After, capped at max delay)
    state = await client.guards[provider].limiter.state()
    assert state["effective_requests_per_second"] < 200
    assert await client.guards[provider].throttled_last_hour() == 1


async def test_throttling_to_the_end_is_reported_as_such(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider))
    fake.default = Reply(status=429)
    with pytest.raises(ProviderThrottled):
        await client.request(provider, "GET", f"{fake.url}/data")


async def test_errors_sent_with_http_200_are_retried(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider))
    envelope = [{"message": [{"id": "105", "key": "Service currently unavailable"}]}]
    fake.script(Reply(status=200, body=envelope))

    def world_bank(response: httpx.Response) -> BodyVerdict:
        body = response.json()
        if isinstance(body, list) and body and isinstance(body[0], dict) and "message" in body[0]:
            return BodyVerdict(error=body[0]["message"][0]["key"])
        return BodyVerdict()

    response = await client.request(provider, "GET", f"{fake.url}/wb", inspect=world_bank)
    assert response.json() == {"ok": True} and fake.count("/wb") == 2


async def test_a_slow_provider_times_out_and_is_retried(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider))
    fake.script(Reply(delay=1.0))
    response = await client.request(provider, "GET", f"{fake.url}/slow")
    assert response.status_code == 200 and fake.count("/slow") == 2


async def test_the_breaker_opens_and_then_refuses_without_calling(
    make_client, fake, provider
) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider, breaker=BreakerConfig(failure_threshold=3)))
    fake.default = Reply(status=500)
    for _ in range(3):  # three failed calls, each after its 3 attempts
        with pytest.raises(ProviderUnavailable):
            await client.request(provider, "GET", f"{fake.url}/data")
    assert fake.count() == 9
    with pytest.raises(CircuitOpen, match="reset"):
        await client.request(provider, "GET", f"{fake.url}/data")
    assert fake.count() == 9  # refused before any request


async def test_the_threshold_counts_failed_calls_not_attempts(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    """EIA's "3 failures": one call that failed its 3 attempts is one failure, not three."""
    client = await make_client(_config(provider, breaker=BreakerConfig(failure_threshold=3)))
    fake.default = Reply(status=503)
    with pytest.raises(ProviderUnavailable, match="failed 3 attempts"):
        await client.request(provider, "GET", f"{fake.url}/data")
    snapshot = await client.guards[provider].breaker.snapshot()
    assert fake.count() == 3
    assert (snapshot["state"], snapshot["consecutive_failures"]) == ("closed", 1)
    assert (snapshot["window"]["calls"], snapshot["window"]["failures"]) == (1, 1)


async def test_a_call_retried_to_success_is_no_breaker_failure(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider, breaker=BreakerConfig(failure_threshold=2)))
    for _ in range(3):
        fake.script(Reply(status=502), Reply(status=503))
        assert (await client.request(provider, "GET", f"{fake.url}/data")).status_code == 200
    snapshot = await client.guards[provider].breaker.snapshot()
    assert (snapshot["state"], snapshot["consecutive_failures"]) == ("closed", 0)
    assert (snapshot["window"]["calls"], snapshot["window"]["failures"]) == (3, 0)


async def test_retries_stop_once_the_breaker_opened_meanwhile(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider))
    fake.default = Reply(status=503, delay=0.3)
    call = asyncio.create_task(client.request(provider, "GET", f"{fake.url}/data"))
    await asyncio.sleep(0.1)  # the first attempt is in flight
    await client.guards[provider].breaker.force_open(actor="operator")
    with pytest.raises(ProviderUnavailable, match="failed 1 attempts"):
        await call
    assert fake.count("/data") == 1


async def test_a_half_open_probe_is_one_call_with_its_retries(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    """A probe that needs a retry still succeeds as one probe; two such probes close it."""
    breaker = BreakerConfig(failure_threshold=1, open_seconds=0.2, success_threshold=2)
    client = await make_client(_config(provider, breaker=breaker))
    fake.default = Reply(status=500)
    with pytest.raises(ProviderUnavailable):
        await client.request(provider, "GET", f"{fake.url}/data")
    assert (await client.guards[provider].breaker.snapshot())["state"] == "open"
    await asyncio.sleep(0.25)
    fake.default = Reply()
    fake.script(Reply(status=503))
    await client.request(provider, "GET", f"{fake.url}/data")  # probe 1: 503, then 200
    snapshot = await client.guards[provider].breaker.snapshot()
    assert (snapshot["state"], snapshot["consecutive_successes"]) == ("half_open", 1)
    fake.script(Reply(status=503))
    await client.request(provider, "GET", f"{fake.url}/data")  # probe 2
    assert (await client.guards[provider].breaker.snapshot())["state"] == "closed"


async def test_quota_stops_calls_and_the_runbook_del_resets_it(
    make_client,
    fake,
    provider,
    redis_url,  # type: ignore[no-untyped-def]
) -> None:
    client = await make_client(_config(provider, quota=QuotaConfig(daily=2, hourly=None)))
    for _ in range(2):
        await client.request(provider, "GET", f"{fake.url}/data")
    with pytest.raises(QuotaExhausted, match="daily"):
        await client.request(provider, "GET", f"{fake.url}/data")
    assert fake.count() == 2
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    redis = Redis.from_url(redis_url, decode_responses=True)
    await redis.delete(f"{provider}:quota:daily:{today}")  # redis-cli DEL "<p>:quota:daily:<day>"
    await redis.aclose()
    assert (await client.request(provider, "GET", f"{fake.url}/data")).status_code == 200


async def test_every_attempt_counts_against_the_quota(make_client, fake, provider) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(_config(provider, quota=QuotaConfig(daily=2, hourly=None)))
    fake.default = Reply(status=503)
    with pytest.raises((ProviderUnavailable, QuotaExhausted)):
        await client.request(provider, "GET", f"{fake.url}/data")
    assert fake.count() == 2  # the third attempt was refused by the quota
