"""The runbooks' rate-limit, quota, cost and breaker commands against the admin API: reads for
viewers, audited writes for operators, bad input refused with nothing changed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
from redis.asyncio import Redis

from app.auth.principal import Role
from app.db.engine import libpq_url
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer

API = "/v1/admin/external"


def _audit_count(database_url: str, request_id: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT count(*) FROM audit_log WHERE request_id = %s", (request_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


async def test_ratelimits_show_every_provider_with_quota_windows(settings: Settings) -> None:
    async with client_for(settings) as client:
        response = await client.get(f"{API}/ratelimits", headers=bearer(settings, Role.VIEWER))
    assert response.status_code == 200, response.text
    providers = response.json()["providers"]
    assert set(providers) == {"fred", "eia", "noaa", "worldbank"}
    fred = providers["fred"]
    assert fred["rate_limit"]["configured"]["requests_per_second"] == 2
    assert fred["throttled_last_hour"] == 0
    assert fred["quota"]["windows"]["daily"]["limit"] == 50_000
    assert fred["quota"]["windows"]["hourly"]["limit"] == 7_200


async def test_one_provider_shows_its_quota_hour_by_hour(
    settings: Settings, redis_url: str
) -> None:
    now = datetime.now(UTC)
    path = f"{API}/ratelimits/noaa"
    async with client_for(settings) as client:
        viewer = bearer(settings, Role.VIEWER)
        before = (await client.get(path, headers=viewer)).json()["quota_by_hour"]
        redis = Redis.from_url(redis_url)
        try:
            await redis.incrby(f"noaa:quota:hourly:{now:%Y-%m-%d-%H}", 7)
        finally:
            await redis.aclose()
        after = (await client.get(path, headers=viewer)).json()["quota_by_hour"]
    assert after[0]["hour"].startswith(f"{now:%Y-%m-%d}T00:00:00")
    if len(after) == len(before):  # not across an hour's turn
        assert len(after) == now.hour + 1
        assert after[-1]["used"] - before[-1]["used"] == 7


async def test_patch_rate_applies_on_another_replica_and_persists(
    settings: Settings, database_url: str
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as first, client_for(settings) as second:
        changed = await first.patch(
            f"{API}/ratelimits/worldbank",
            json={"requests_per_second": 1.5, "daily_quota": 1234, "reason": "drill"},
            headers=operator,
        )
        assert changed.status_code == 200, changed.text
        await asyncio.sleep(1.2)  # the other replica re-reads overrides each second
        seen = (await second.get(f"{API}/ratelimits/worldbank", headers=operator)).json()
        assert seen["rate_limit"]["override"]["requests_per_second"] == 1.5
        assert seen["quota"]["windows"]["daily"]["limit"] == 1234
        cleared = await first.patch(
            f"{API}/ratelimits/worldbank",
            json={"requests_per_second": None, "daily_quota": None},
            headers=operator,
        )
        assert cleared.json()["quota"]["windows"]["daily"]["limit"] is None
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "SELECT updated_by FROM provider_overrides WHERE provider = 'worldbank'"
        ).fetchone()
    assert row == ("jwt:tester",)


async def test_bad_patches_are_refused_with_nothing_changed_and_no_audit(
    settings: Settings, database_url: str
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        for path, body, status in (
            ("ratelimits/noaa", {"requests_per_second": -2}, 422),
            ("ratelimits/noaa", {"requests_per_second": 1e9}, 422),
            ("ratelimits/noaa", {"burst": 0}, 422),
            ("ratelimits/noaa", {}, 422),
            ("ratelimits/nosuch", {"requests_per_second": 1}, 404),
            ("costs/fred", {"monthly_budget_usd": -5}, 422),
        ):
            request_id = f"bad-{uuid.uuid4().hex}"
            response = await client.patch(
                f"{API}/{path}", json=body, headers=operator | {"X-Request-ID": request_id}
            )
            assert response.status_code == status, (path, body, response.text)
            assert response.json()["error"] in {"validation_error", "not_found"}
            assert _audit_count(database_url, request_id) == 0
        unknown = await client.patch(
            f"{API}/ratelimits/nosuch", json={"burst": 1}, headers=operator
        )
        assert "fred" in unknown.json()["message"]  # lists the known providers


async def test_quota_reset_clears_the_runbook_keys(settings: Settings, redis_url: str) -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    redis = Redis.from_url(redis_url, decode_responses=True)
    await redis.set(f"eia:quota:daily:{today}", 42)
    async with client_for(settings) as client:
        response = await client.delete(f"{API}/quotas/eia", headers=bearer(settings, Role.OPERATOR))
    assert response.status_code == 200
    assert response.json()["quota"]["windows"]["daily"]["used"] == 0
    assert await redis.get(f"eia:quota:daily:{today}") is None
    await redis.aclose()


async def test_costs_report_and_budget_change(settings: Settings, redis_url: str) -> None:
    month = datetime.now(UTC).strftime("%Y-%m")
    redis = Redis.from_url(redis_url, decode_responses=True)
    await redis.set(f"fred:cost:monthly:{month}", 200_000)  # 200k requests at $0.005 per 1,000
    await redis.aclose()
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        costs = (await client.get(f"{API}/costs", headers=bearer(settings, Role.VIEWER))).json()
        fred = costs["providers"]["fred"]
        assert fred["spent_usd"] == 1.0 and fred["projected_month_end_usd"] >= 1.0
        changed = await client.patch(
            f"{API}/costs/fred", json={"monthly_budget_usd": 4000}, headers=operator
        )
        assert changed.json()["monthly_budget_usd"] == 4000
        assert changed.json()["budget_source"] == "override"


async def test_breaker_commands_from_the_runbook(settings: Settings) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        forced = await client.post(
            f"{API}/circuit-breakers/noaa/force-open",
            json={"ttl_seconds": 1, "reason": "maintenance"},
            headers=operator,
        )
        assert forced.status_code == 200 and forced.json()["state"] == "forced_open"
        await asyncio.sleep(1.2)
        listed = (await client.get(f"{API}/circuit-breakers", headers=operator)).json()
        assert listed["providers"]["noaa"]["state"] == "closed"  # the TTL reverted it
        await client.post(f"{API}/circuit-breakers/fred/disable", headers=operator)
        legacy = await client.post("/admin/reset-circuit-breaker?provider=fred", headers=operator)
        assert legacy.status_code == 200 and legacy.json()["state"] == "closed"
        bad = await client.post(
            f"{API}/circuit-breakers/fred/force-open", json={"ttl_seconds": -1}, headers=operator
        )
        assert bad.status_code == 422
        unknown = await client.post(f"{API}/circuit-breakers/fred/explode", headers=operator)
        assert unknown.status_code == 422
        viewer = await client.post(
            f"{API}/circuit-breakers/fred/reset", headers=bearer(settings, Role.VIEWER)
        )
        assert viewer.status_code == 403
