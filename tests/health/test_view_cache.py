"""Health and SLA views are computed at most once per interval per replica, shared by every
reader, refreshed ahead of time, and never served across a change made through the replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY

from app.auth.principal import Role
from app.health.view_cache import ChangeCounter, ViewCache
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer

HEALTH = "/v1/admin/external/health"


class Counted:
    """A view computation that counts its calls and can be held open."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail = False

    async def __call__(self) -> bytes:
        self.calls += 1
        await self.release.wait()
        if self.fail:
            raise RuntimeError("view failed")
        return f'{{"n":{self.calls}}}'.encode()


async def test_concurrent_readers_share_one_computation() -> None:
    views, compute = ViewCache(1.0, ChangeCounter()), Counted()
    compute.release.clear()
    readers = [asyncio.ensure_future(views.get("k", compute)) for _ in range(20)]
    await asyncio.sleep(0.01)
    compute.release.set()
    assert {await r for r in readers} == {b'{"n":1}'}
    assert compute.calls == 1
    assert await views.get("k", compute) == b'{"n":1}'  # fresh: served from memory
    assert views.fresh("k") == b'{"n":1}'


async def test_a_reader_that_goes_away_does_not_cancel_the_others() -> None:
    views, compute = ViewCache(1.0, ChangeCounter()), Counted()
    compute.release.clear()
    first = asyncio.ensure_future(views.get("k", compute))
    second = asyncio.ensure_future(views.get("k", compute))
    await asyncio.sleep(0.01)
    first.cancel()
    compute.release.set()
    assert await second == b'{"n":1}'
    assert compute.calls == 1


async def test_a_change_through_the_replica_invalidates_the_view() -> None:
    changes = ChangeCounter()
    views, compute = ViewCache(60.0, changes), Counted()
    assert await views.get("k", compute) == b'{"n":1}'
    changes.bump()
    assert views.fresh("k") is None
    assert await views.get("k", compute) == b'{"n":2}'


async def test_past_half_its_interval_the_view_is_served_and_refreshed_ahead() -> None:
    views, compute = ViewCache(0.2, ChangeCounter()), Counted()
    assert await views.get("k", compute) == b'{"n":1}'
    await asyncio.sleep(0.12)
    assert views.fresh("k") is None  # the fast path leaves it to the route now
    assert await views.get("k", compute) == b'{"n":1}'  # served at once, refresh started
    await asyncio.sleep(0.01)
    assert compute.calls == 2
    assert await views.get("k", compute) == b'{"n":2}'
    await asyncio.sleep(0.25)  # past the whole interval: the reader waits for a new one
    assert await views.get("k", compute) == b'{"n":3}'


async def test_a_failed_computation_is_not_cached() -> None:
    views, compute = ViewCache(60.0, ChangeCounter()), Counted()
    compute.fail = True
    with pytest.raises(RuntimeError):
        await views.get("k", compute)
    compute.fail = False
    assert await views.get("k", compute) == b'{"n":2}'


async def test_zero_turns_the_cache_off() -> None:
    views, compute = ViewCache(0, ChangeCounter()), Counted()
    await views.get("k", compute)
    await views.get("k", compute)
    assert compute.calls == 2


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings.model_copy(update={"health_cache_seconds": 30.0})) as client:
        yield client


async def test_readers_within_the_interval_get_the_same_view(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    viewer = bearer(settings, Role.VIEWER)
    first = await api.get(HEALTH, headers=viewer)
    again = await api.get(HEALTH, headers=viewer)
    alias = await api.get("/health/external", headers=viewer)
    assert first.status_code == again.status_code == alias.status_code == 200
    assert first.json()["checked_at"] == again.json()["checked_at"] == alias.json()["checked_at"]
    # Answered from memory, still with the edge's headers and the route's metrics label.
    assert again.headers["content-type"] == "application/json"
    assert again.headers["x-request-id"]
    assert again.headers["x-content-type-options"] == "nosniff"
    assert "ratelimit-limit" in again.headers
    counted = REGISTRY.get_sample_value(
        "http_requests_total", {"method": "GET", "status": "200", "handler": HEALTH}
    )
    assert counted is not None and counted >= 2


async def test_a_change_made_through_the_replica_shows_at_once(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    before = (await api.get(HEALTH, headers=operator)).json()
    assert before["providers"]["noaa"]["breaker"]["state"] != "forced_open"
    breakers = "/v1/admin/external/circuit-breakers/noaa"
    forced = await api.post(f"{breakers}/force-open", json={"reason": "t"}, headers=operator)
    assert forced.status_code == 200, forced.text
    try:
        after = (await api.get(HEALTH, headers=operator)).json()
        assert after["checked_at"] != before["checked_at"]
        assert after["providers"]["noaa"]["breaker"]["state"] == "forced_open"
    finally:
        await api.post(f"{breakers}/reset", headers=operator)


async def test_the_cache_still_needs_a_credential(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await api.get(HEALTH, headers=bearer(settings, Role.VIEWER))).status_code == 200
    refused = await api.get(HEALTH)
    assert refused.status_code == 401
    assert "providers" not in refused.text
