"""Inbound limits through the real app: counted in the shared Redis, refused with 429 in the
one error shape, and reported in RateLimit-* headers exactly once."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from app.settings import Settings
from tests.ratelimit.scaffold import EXTERNAL_PING, OWN_HEADER, PING, caller, limited_app, serving
from tests.support.apps import client_for

ERROR_KEYS = {"error", "message", "request_id", "details"}


def _rejections(rule: str) -> float:
    return REGISTRY.get_sample_value("aurum_ratelimit_rejections_total", {"rule": rule}) or 0.0


async def test_the_sixth_request_is_refused_across_two_replicas(rl_settings: Settings) -> None:
    # Two app instances sharing one Redis, as two replicas behind a load balancer.
    one, two = limited_app(rl_settings), limited_app(rl_settings)
    before = _rejections("default")
    async with serving(one, two), caller(one) as first, caller(two) as second:
        statuses = []
        for index in range(6):
            response = await (first if index % 2 == 0 else second).get(PING)
            statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 200, 200, 429]
    assert response.headers["ratelimit-limit"] == "5"
    assert response.headers["ratelimit-remaining"] == "0"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert abs(int(response.headers["ratelimit-reset"]) - retry_after) <= 1
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] == "rate_limited"
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["message"] == (
        f"Rate limit 5 per 1 minute exceeded for client 127.0.0.1; retry in {retry_after} s."
    )
    assert body["details"] == {
        "rule": "default",
        "limit": "5 per 1 minute",
        "key": "ip:127.0.0.1",
        "retry_after_seconds": retry_after,
    }
    assert _rejections("default") == before + 1


async def test_successful_responses_carry_each_header_once(rl_settings: Settings) -> None:
    app = limited_app(rl_settings)
    async with serving(app), caller(app) as client:
        responses = [await client.get(PING) for _ in range(3)]
        # A route that sets its own RateLimit-Limit still sends the header once: the limiter's.
        own = await client.get(OWN_HEADER)
    for name in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
        for response in [*responses, own]:
            assert len(response.headers.get_list(name)) == 1, (name, response.headers)
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["4", "3", "2"]
    assert own.headers["ratelimit-limit"] == "5"
    assert "retry-after" not in responses[0].headers
    assert 0 < int(responses[0].headers["ratelimit-reset"]) <= 60


async def test_unknown_paths_are_limited_too(rl_settings: Settings) -> None:
    app = limited_app(rl_settings.model_copy(update={"rate_limit_default": "1/minute"}))
    async with serving(app), caller(app) as client:
        assert (await client.get("/v1/no-such-thing")).status_code == 404
        assert (await client.get("/v1/no-such-thing")).status_code == 429


async def test_burst_and_window_are_enforced_together(rl_settings: Settings) -> None:
    # "10 per minute with burst 2": 10/minute AND 2/second.
    settings = rl_settings.model_copy(update={"rate_limit_default": "10/minute;2/second"})
    app = limited_app(settings)
    async with serving(app), caller(app) as client:
        first = await client.get(PING)
        second = await client.get(PING)
        third = await client.get(PING)
    # The headers report the tightest limit: the burst, with the least remaining.
    assert (first.headers["ratelimit-limit"], first.headers["ratelimit-remaining"]) == ("2", "1")
    assert second.headers["ratelimit-remaining"] == "0"
    # The window opened with the first request, so the third (within a second) is refused.
    assert third.status_code == 429
    assert third.json()["details"]["limit"] == "2 per 1 second"
    assert third.headers["retry-after"] == "1"


async def test_a_prefix_rule_has_its_own_budget(rl_settings: Settings) -> None:
    app = limited_app(rl_settings)  # default 5/minute, /v1/external/ 3/minute
    # /v1/external is the read API now: its policy needs a caller with the reader role.
    async with serving(app), caller(app, principal="downstream") as client:
        external = [(await client.get(EXTERNAL_PING)).status_code for _ in range(4)]
        ping = await client.get(PING)
    assert external == [200, 200, 200, 429]
    assert ping.status_code == 200 and ping.headers["ratelimit-remaining"] == "4"


async def test_probes_are_exempt(rl_settings: Settings) -> None:
    app = limited_app(rl_settings.model_copy(update={"rate_limit_default": "1/minute"}))
    async with serving(app), caller(app) as client:
        statuses = [(await client.get("/health")).status_code for _ in range(3)]
        ready = await client.get("/ready")
    assert statuses == [200, 200, 200]
    assert "ratelimit-limit" not in ready.headers
    assert ready.json()["checks"]["ratelimit"]["status"] == "up"


async def test_the_override_replaces_the_burst_limit_and_can_be_cleared(
    rl_settings: Settings,
) -> None:
    app = limited_app(rl_settings.model_copy(update={"rate_limit_default": "100/minute"}))
    async with serving(app), caller(app) as client:
        limiter = app.state.rate_limiter
        limiter.set_override_rps(1)
        first, second = await client.get(PING), await client.get(PING)
        limiter.set_override_rps(None)
        cleared = await client.get(PING)
    assert first.headers["ratelimit-limit"] == "1"
    assert second.status_code == 429
    assert second.json()["details"]["limit"] == "1 per 1 second"
    assert cleared.status_code == 200
    assert cleared.headers["ratelimit-limit"] == "100"


async def test_disabled_limiting_adds_nothing(rl_settings: Settings) -> None:
    settings = rl_settings.model_copy(
        update={"rate_limit_enabled": False, "rate_limit_default": "1/minute"}
    )
    async with client_for(settings) as client:
        responses = [await client.get("/v1/nothing") for _ in range(7)]
        ready = await client.get("/ready")
    assert {r.status_code for r in responses} == {404}
    assert "ratelimit-limit" not in responses[0].headers
    assert ready.json()["checks"]["ratelimit"]["status"] == "off"


async def test_concurrent_requests_are_counted_exactly(rl_settings: Settings) -> None:
    # Requests arriving together share one Redis call; each still gets its own count.
    one, two = limited_app(rl_settings), limited_app(rl_settings)
    async with serving(one, two), caller(one) as first, caller(two) as second:
        responses = await asyncio.gather(
            *(client.get(PING) for client in [first, second] * 6)  # 12 requests, limit 5
        )
    assert sorted(r.status_code for r in responses) == [200] * 5 + [429] * 7
    remaining = sorted(r.headers["ratelimit-remaining"] for r in responses if r.status_code == 200)
    assert remaining == ["0", "1", "2", "3", "4"]
