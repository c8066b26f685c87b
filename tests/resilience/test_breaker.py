"""The circuit breaker against real Redis, and the same transitions in process memory (a breaker
whose Redis is unreachable): every state-machine test runs on both."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from app.embedded.ports import free_port
from app.errors import InvalidInput
from app.resilience.breaker import BreakerState, CircuitBreaker, Permit, iso
from app.resilience.breaker_store import LocalStore, Op, RedisStore, Step
from app.resilience.config import BreakerConfig
from app.resilience.errors import CircuitOpen
from tests.resilience.conftest import SpareRedis

FAST: dict[str, Any] = {"failure_threshold": 3, "open_seconds": 0.2, "window_seconds": 10.0}
FAST |= {"failure_rate_threshold": 0.5, "minimum_calls": 100}
FAST |= {"half_open_max_calls": 2, "success_threshold": 2}


def new_provider() -> str:
    return f"p{uuid.uuid4().hex[:8]}"


class BreakerFactory:
    """Breakers on the suite's Redis ("redis") or on a port nobody listens on ("local")."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend, self.url = backend, url
        self.clients: list[Redis] = []
        self.breakers: list[CircuitBreaker] = []

    def __call__(self, provider: str | None = None, **config: Any) -> CircuitBreaker:
        client = Redis.from_url(self.url, decode_responses=True)
        breaker = CircuitBreaker(
            client,
            provider or new_provider(),
            BreakerConfig(**{**FAST, **config}),
            replica=f"replica-{len(self.breakers)}",
            store_timeout_seconds=0.2,
        )
        self.clients.append(client)
        self.breakers.append(breaker)
        return breaker

    async def close(self) -> None:
        for breaker in self.breakers:
            await breaker.aclose()
        for client in self.clients:
            await client.aclose()


@pytest.fixture(params=["redis", "local"])
async def breaker_make(
    request: pytest.FixtureRequest, redis_url: str
) -> AsyncIterator[BreakerFactory]:
    url = redis_url if request.param == "redis" else f"redis://127.0.0.1:{free_port()}/0"
    factory = BreakerFactory(request.param, url)
    yield factory
    await factory.close()


@pytest.fixture
async def breaker_shared(redis_url: str) -> AsyncIterator[BreakerFactory]:
    factory = BreakerFactory("redis", redis_url)
    yield factory
    await factory.close()


async def fail(breaker: CircuitBreaker, times: int, reason: str = "HTTP 503") -> None:
    for _ in range(times):
        permit = await breaker.before_call()
        await breaker.record_failure(reason, permit)


async def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        await breaker.record_success(await breaker.before_call())


async def state(breaker: CircuitBreaker) -> str:
    return str((await breaker.snapshot())["state"])


async def read(breaker: CircuitBreaker, *names: str) -> tuple[Any, ...]:
    """Snapshot fields by name; `window.calls` reaches into the window."""
    snap = await breaker.snapshot()
    return tuple(snap["window"][n[7:]] if n.startswith("window.") else snap[n] for n in names)


async def test_opens_after_consecutive_failures(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make()
    await fail(breaker, 2)
    await succeed(breaker)  # a success breaks the run
    await fail(breaker, 2)
    assert await state(breaker) == "closed"
    await fail(breaker, 1, reason="HTTP 502")
    fields = ("state", "consecutive_failures", "reason", "last_failure_reason", "degraded")
    why, degraded = "3 consecutive failures (last: HTTP 502)", breaker_make.backend == "local"
    assert await read(breaker, *fields) == ("open", 3, why, "HTTP 502", degraded)


async def test_a_permit_holds_for_retries_until_the_breaker_opens(
    breaker_make: BreakerFactory,
) -> None:
    """A call's retries go on while its permit holds: not once another call opened it, nor
    once an operator forced it open; again after a reset."""
    breaker = breaker_make()
    mine = await breaker.before_call()
    assert await breaker.admits(mine)
    await fail(breaker, 3)  # other calls open it meanwhile
    assert not await breaker.admits(mine)
    await breaker.reset(actor="test")
    assert await breaker.admits(mine)
    await breaker.force_open(actor="test")
    assert not await breaker.admits(mine)
    await breaker.reset(actor="test")
    await breaker.record_failure("HTTP 503", mine)  # a stale verdict counts for nothing
    assert await read(breaker, "state", "consecutive_failures") == ("closed", 0)


async def test_open_refuses_with_an_actionable_error(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make(open_seconds=30)
    await fail(breaker, 3)
    with pytest.raises(CircuitOpen) as refused:
        await breaker.before_call()
    error = refused.value
    p = breaker.provider
    assert error.status_code == 503
    assert f"Circuit breaker for {p} is open until " in error.message
    assert "3 consecutive failures (last: HTTP 503)" in error.message
    assert f"POST /v1/admin/external/circuit-breakers/{p}/reset" in error.message
    assert error.details["state"] == "open"
    assert error.details["until"] == (await breaker.snapshot())["open_until"]
    assert 29 <= int(error.headers["Retry-After"]) <= 30


async def test_failure_rate_over_the_window_opens_it(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make(failure_threshold=100, minimum_calls=10, failure_rate_threshold=0.5)
    for _ in range(4):
        await succeed(breaker)
        await fail(breaker, 1)
    await succeed(breaker)
    # 9 calls: under minimum_calls, however bad.
    assert await read(breaker, "state", "window.calls", "window.failures") == ("closed", 9, 4)
    await fail(breaker, 1)  # 5 of 10
    snap = await breaker.snapshot()
    assert snap["state"] == "open"
    assert snap["reason"].startswith("failure rate 50% (5 of 10 calls in 10s")


async def test_lower_rates_and_old_calls_do_not_open_it(breaker_make: BreakerFactory) -> None:
    lower = breaker_make(failure_threshold=100, minimum_calls=4)
    for _ in range(3):
        await succeed(lower, 2)
        await fail(lower, 1)
    assert await state(lower) == "closed"  # 3 of 9 is under half
    forgetful = breaker_make(failure_threshold=100, minimum_calls=4, window_seconds=0.5)
    await fail(forgetful, 3)
    await asyncio.sleep(0.6)  # those calls leave the window
    await succeed(forgetful)
    await fail(forgetful, 1)  # 4 of 5 had the window kept them
    assert await read(forgetful, "state", "window.calls", "window.failures") == ("closed", 2, 1)


async def test_half_open_admits_limited_probes_and_closes_after_two_successes(
    breaker_make: BreakerFactory,
) -> None:
    breaker = breaker_make()
    await fail(breaker, 3)
    await asyncio.sleep(0.25)
    first, second = await breaker.before_call(), await breaker.before_call()
    assert first.probe and second.probe and first.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen) as refused:
        await breaker.before_call()
    assert refused.value.details["state"] == "half_open"
    assert "2 probe call(s) in flight" in refused.value.message
    await breaker.record_success(first)
    progress = await read(breaker, "state", "consecutive_successes", "half_open_in_flight")
    assert progress == ("half_open", 1, 1)
    third = await breaker.before_call()  # the freed slot
    await breaker.record_success(second)
    assert await state(breaker) == "closed"
    # A probe of the finished round reporting late changes nothing.
    await breaker.record_failure("HTTP 500", third)
    assert await read(breaker, "state", "consecutive_failures") == ("closed", 0)
    steps = [(e["from"], e["to"]) for e in await breaker.events()]
    assert steps == [("half_open", "closed"), ("open", "half_open"), ("closed", "open")]


async def test_a_failed_probe_reopens_it(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make()
    await fail(breaker, 3)
    first_until = (await breaker.snapshot())["open_until"]
    await asyncio.sleep(0.25)
    await fail(breaker, 1, reason="timeout")
    state_, reason, until = await read(breaker, "state", "reason", "open_until")
    assert (state_, reason) == ("open", "probe call failed: timeout") and until > first_until
    with pytest.raises(CircuitOpen):
        await breaker.before_call()


async def test_a_cancelled_probe_releases_its_slot(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make(half_open_max_calls=1)
    await fail(breaker, 3)
    await asyncio.sleep(0.25)
    probe = await breaker.before_call()
    with pytest.raises(CircuitOpen):
        await breaker.before_call()
    await breaker.release(probe)
    assert (await breaker.before_call()).probe


async def test_an_unreported_probe_frees_its_slot(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make(half_open_max_calls=1)
    breaker._probe_lease = 0.1  # its replica "died" mid-call
    await fail(breaker, 3)
    await asyncio.sleep(0.25)
    await breaker.before_call()
    await asyncio.sleep(0.15)
    assert (await breaker.before_call()).probe


async def test_force_open_with_ttl_reverts_by_itself(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make()
    snap = await breaker.force_open(
        actor="key:ops1", reason="provider maintenance", ttl_seconds=0.3
    )
    assert snap["state"] == "forced_open" and snap["forced_until"] is not None
    with pytest.raises(CircuitOpen) as refused:
        await breaker.before_call()
    assert "was forced open by key:ops1 (provider maintenance)" in refused.value.message
    await asyncio.sleep(0.35)
    assert await state(breaker) == "closed"
    latest = (await breaker.events(limit=1))[0]
    assert (latest["from"], latest["to"], latest["actor"]) == ("forced_open", "closed", "system")
    assert latest["reason"] == "forced open expired"
    await breaker.before_call()


async def test_force_open_ttl_outlives_its_replica(breaker_shared: BreakerFactory) -> None:
    setter = breaker_shared()
    await setter.force_open(actor="jwt:oncall", ttl_seconds=0.3)
    await setter.aclose()
    await breaker_shared.clients[0].aclose()  # the replica that set it is gone
    other = breaker_shared(setter.provider)
    with pytest.raises(CircuitOpen) as refused:
        await other.before_call()
    assert refused.value.details["actor"] == "jwt:oncall"
    await asyncio.sleep(0.35)
    permit = await other.before_call()
    assert permit.state is BreakerState.CLOSED


async def test_disable_lets_all_through_and_reverts(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make()
    await breaker.disable(actor="key:ops1", reason="flaky health signal", ttl_seconds=0.3)
    await fail(breaker, 10)
    nothing = ("disabled", 0, 0, None)
    fields = ("state", "consecutive_failures", "window.calls", "last_failure_reason")
    assert await read(breaker, *fields) == nothing
    await asyncio.sleep(0.35)
    assert await state(breaker) == "closed"
    await fail(breaker, 3)  # back to normal: it trips again
    assert await state(breaker) == "open"


async def test_reset_closes_and_clears_counters(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make(open_seconds=30)
    await fail(breaker, 3)
    snap = await breaker.reset(actor="key:ops1", reason="provider fixed")
    assert snap["state"] == "closed"
    assert (snap["consecutive_failures"], snap["window"]["calls"]) == (0, 0)
    assert (snap["actor"], snap["reason"]) == ("key:ops1", "provider fixed")
    await breaker.before_call()
    await fail(breaker, 2)
    assert await state(breaker) == "closed"  # the count started again
    latest = (await breaker.events(limit=1))[0]
    assert (latest["from"], latest["to"], latest["actor"]) == ("open", "closed", "key:ops1")
    with pytest.raises(InvalidInput):  # an operator's TTL is a positive number of seconds
        await breaker.force_open(actor="key:ops1", ttl_seconds=0)


async def test_events_are_bounded_and_newest_first(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make()
    for i in range(55):
        await breaker.force_open(actor="key:ops1", reason=f"round {i}")
        await breaker.reset(actor="key:ops1")
    events = await breaker.events(limit=500)
    assert len(events) == 100
    assert events[0]["to"] == "closed" and events[1]["reason"] == "round 54"
    assert all(a["from"] == b["to"] for a, b in itertools.pairwise(events))
    assert [e["time"] for e in events] == sorted((e["time"] for e in events), reverse=True)
    assert len(await breaker.events(limit=5)) == 5
    if breaker_make.backend == "redis":
        key = f"resilience:breaker:{breaker.provider}:events"
        assert await breaker_make.clients[0].llen(key) == 100


async def test_two_instances_share_state(breaker_shared: BreakerFactory) -> None:
    a = breaker_shared(open_seconds=30)
    b = breaker_shared(a.provider, open_seconds=30)
    await fail(a, 2)
    await fail(b, 1)
    with pytest.raises(CircuitOpen):
        await a.before_call()
    stored = await breaker_shared.clients[0].hgetall(f"resilience:breaker:{a.provider}")
    assert (stored["state"], stored["failures"]) == ("open", "3")
    assert float(stored["open_until"]) > time.time() + 25
    await b.reset(actor="key:ops1")
    assert isinstance(await a.before_call(), Permit)
    assert (await a.events(limit=1))[0]["replica"] == "replica-1"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics(breaker_make: BreakerFactory) -> None:
    breaker = breaker_make(open_seconds=30)
    p = breaker.provider
    await fail(breaker, 3)
    with pytest.raises(CircuitOpen):
        await breaker.before_call()
    opened = {"provider": p, "from_state": "closed", "to_state": "open"}
    assert sample("aurum_external_circuit_breaker_transitions_total", **opened) == 1
    assert sample("aurum_external_circuit_breaker_refused_total", provider=p) == 1
    gauge = "aurum_external_circuit_breaker_state"
    assert sample(gauge, provider=p, state="open") == 1
    assert sample(gauge, provider=p, state="closed") == 0
    fallbacks = sample("aurum_external_circuit_breaker_store_fallback_total", provider=p)
    assert (fallbacks > 0) is (breaker_make.backend == "local")


async def test_redis_and_memory_run_the_same_machine(redis_url: str) -> None:
    """Random operations on a fake clock (eighths of seconds: exact in Lua's JSON) give the
    same results, records and events from the Lua script and from its Python mirror."""
    client = Redis.from_url(redis_url, decode_responses=True)
    ops: list[Op] = ["before", "before", "success", "failure", "failure", "release"]
    ops += ["force_open", "disable", "reset", "read"]
    most = {"failure_threshold": 4, "minimum_calls": 6, "half_open_max_calls": 3}
    most |= {"success_threshold": 3}
    try:
        for seed in range(10):
            rng, now, permits = random.Random(seed), 1.8e9, [(None, False)]  # noqa: S311
            drawn = {name: rng.randint(1, top) for name, top in most.items()}
            config = BreakerConfig(open_seconds=2.0, window_seconds=3.0, **drawn)
            shared = RedisStore(client, new_provider(), replica=None)
            local = LocalStore(None, replica=None)
            for _ in range(150):
                now += rng.choice([0, 0.125, 0.5, 1.5])
                gen, probe = rng.choice(permits)
                step = Step(rng.choice(ops), now, iso(now) or "", reason="why", permit_gen=gen)
                step = replace(step, ttl=rng.choice([None, 1.0]), permit_probe=probe)
                result = await shared.run(step, config, 1.0)
                assert result == await local.run(step, config, 1.0), (seed, step)
                if result.admitted:
                    permits.append((result.record.gen, result.probe))
            assert await shared.events(100) == await local.events(100)
    finally:
        await client.aclose()


async def test_unreachable_redis_keeps_local_state_and_never_raises(redis_url: str) -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", decode_responses=True)
    breaker = CircuitBreaker(client, new_provider(), BreakerConfig(**FAST))
    try:
        started = time.monotonic()
        await fail(breaker, 3)
        assert breaker.degraded and breaker.degraded_reason
        assert time.monotonic() - started < 1.5  # only the first call waited for Redis
        assert await read(breaker, "state", "degraded") == ("open", True)
        with pytest.raises(CircuitOpen) as refused:
            await breaker.before_call()
        assert refused.value.details["degraded"] is True
        assert [e["to"] for e in await breaker.events()] == ["open"]
    finally:
        await breaker.aclose()
        await client.aclose()


async def test_a_stalled_redis_falls_back_from_the_last_state_and_returns(
    breaker_spare_redis: SpareRedis,
) -> None:
    breaker_spare_redis.start()
    client, admin = breaker_spare_redis.client(), breaker_spare_redis.client()
    breaker = CircuitBreaker(client, new_provider(), BreakerConfig(**{**FAST, "open_seconds": 30}))
    try:
        await fail(breaker, 3)
        assert not breaker.degraded
        await admin.execute_command("CLIENT", "PAUSE", "1500", "ALL")
        with pytest.raises(CircuitOpen):  # still open: the last state read from Redis
            await breaker.before_call()
        assert breaker.degraded
        for _ in range(40):  # a background check runs at most once a second
            await asyncio.sleep(0.1)
            await breaker.snapshot()
            if not breaker.degraded:
                break
        assert await read(breaker, "degraded", "state") == (False, "open")
    finally:
        await breaker.aclose()
        await client.aclose()
        await admin.aclose()
