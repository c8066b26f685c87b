"""Declaring an outage through the API: the runbook's mitigation applied as one change and
audited under its reason; bad input refused with nothing changed; all or nothing when Redis
breaks between the database steps and the breaker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from app.auth.principal import Role
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.scheduling import provider_file, sql
from tests.support.tcp_proxy import TcpProxy

API = "/v1/admin/external"
OUTAGES = f"{API}/outages"
EIA_JOBS = {"ingest.eia", "ingest.eia.bulk", "probe.eia"}


async def declare(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(OUTAGES, json={"provider": "eia", "reason": "EIA 5xx"} | body,
                             headers=headers)  # fmt: skip


async def paused_jobs(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    jobs = (await client.get(f"{API}/jobs", headers=headers)).json()["jobs"]
    return {job["id"] for job in jobs if job["paused"]}


async def flag(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    body: dict[str, Any] = (
        await client.get(f"/runtime-config/v1/features/{name}", headers=headers)
    ).json()
    return body


async def breaker_state(client: httpx.AsyncClient, headers: dict[str, str], p: str) -> str:
    body = (await client.get(f"{API}/circuit-breakers/{p}", headers=headers)).json()
    return str(body["state"])


async def test_a_declaration_pauses_forces_open_caches_and_is_audited_under_its_reason(
    settings: Settings, database_url: str
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    viewer = bearer(settings, Role.VIEWER)
    async with client_for(settings) as client:
        response = await declare(client, operator, reason="EIA 5xx since 09:12", ttl_seconds=3600)
        assert response.status_code == 201, response.text
        outage = response.json()
        assert outage["status"] == "open" and outage["provider"] == "eia"
        assert outage["declared_by"] == "jwt:tester"
        assert outage["expires_at"] > outage["declared_at"]
        applied = {(a["action"], a["target"]): a for a in outage["actions"]}
        assert set(applied) == {
            *(("pause_job", job) for job in EIA_JOBS),
            ("force_open_breaker", "eia"),
            ("flag", "external_read_cache"),
        }
        assert all(a["changed"] for a in applied.values())
        assert applied[("flag", "external_read_cache")]["before"]["enabled"] is False
        assert applied[("flag", "external_read_cache")]["after"]["enabled"] is True

        assert await paused_jobs(client, viewer) == EIA_JOBS
        assert await breaker_state(client, viewer, "eia") == "forced_open"
        assert (await flag(client, viewer, "external_read_cache"))["enabled"] is True
        assert (await flag(client, viewer, "provider_fallback"))["enabled"] is False

        shown = {"id": outage["id"], "since": outage["declared_at"], "declared_by": "jwt:tester",
                 "reason": "EIA 5xx since 09:12", "expires_at": outage["expires_at"]}  # fmt: skip
        health = (await client.get(f"{API}/health", headers=viewer)).json()
        assert health["providers"]["eia"]["outage"] == shown
        assert health["providers"]["fred"]["outage"] is None
        one = (await client.get(f"{API}/health/eia", headers=viewer)).json()
        assert one["outage"] == shown
        limits = (await client.get(f"{API}/ratelimits", headers=viewer)).json()
        assert limits["providers"]["eia"]["outage"] == shown
        assert limits["providers"]["noaa"]["outage"] is None
        metrics = (await client.get("/metrics")).text
        assert 'aurum_external_outage_open{provider="eia"} 1.0' in metrics
        assert 'aurum_external_outage_open{provider="fred"} 0.0' in metrics

        listed = (await client.get(OUTAGES, params={"status": "open"}, headers=viewer)).json()
        assert [o["id"] for o in listed["outages"]] == [outage["id"]]
        read = (await client.get(f"{OUTAGES}/{outage['id']}", headers=viewer)).json()
        assert [entry["kind"] for entry in read["timeline"]][:2] == ["declared", "action"]

    audited = sql(
        database_url,
        "SELECT action, target FROM audit_log WHERE reason = %s ORDER BY id",
        "EIA 5xx since 09:12",
    )
    assert sorted(audited) == sorted(
        [("job.pause", f"job:{job}") for job in EIA_JOBS]
        + [("flag.set", "flag:external_read_cache"), ("breaker.force-open", "provider:eia"),
           ("outage.declare", f"outage:{outage['id']}")]
    )  # fmt: skip


async def test_actions_can_be_switched_off_and_fallback_on(settings: Settings) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        actions = {"pause_jobs": False, "force_open_breaker": False, "read_cache": False,
                   "fallback": True}  # fmt: skip
        response = await declare(client, operator, actions=actions)
        assert response.status_code == 201, response.text
        assert [(a["action"], a["target"]) for a in response.json()["actions"]] == [
            ("fallback", "provider_fallback")
        ]
        assert await paused_jobs(client, operator) == set()
        assert await breaker_state(client, operator, "eia") == "closed"
        fallback = await flag(client, operator, "provider_fallback")
        assert fallback["enabled"] is True and fallback["configuration"] == {"eia": True}


async def test_bad_declarations_are_refused_with_nothing_changed(
    settings: Settings, tmp_path: Path
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        unknown = await declare(client, operator, provider="ercot")
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["message"].endswith("known providers: eia, fred, noaa, worldbank.")
        for body, field in (
            ({"actions": {"pause_jobs": True, "reboot": True}}, "reboot"),
            ({"ttl_seconds": 5}, "ttl_seconds"),
            ({"reason": ""}, "reason"),
        ):
            bad = await declare(client, operator, **body)
            assert bad.status_code == 422, bad.text
            assert field in bad.text
        missing = await client.post(OUTAGES, json={"provider": "eia"}, headers=operator)
        assert missing.status_code == 422 and "reason" in missing.text
        assert await paused_jobs(client, operator) == set()

        first = await declare(client, operator)
        assert first.status_code == 201
        second = await declare(client, operator, reason="again")
        assert second.status_code == 409, second.text
        assert first.json()["id"] in second.json()["message"]

        viewer = bearer(settings, Role.VIEWER)
        refused = await declare(client, viewer, provider="fred")
        assert refused.status_code == 403, refused.text
        assert (await client.get(OUTAGES, headers=viewer)).status_code == 200
        assert (await client.get(f"{OUTAGES}/not-a-uuid", headers=viewer)).status_code == 422
        missing_id = "00000000-0000-4000-8000-000000000000"
        assert (await client.get(f"{OUTAGES}/{missing_id}", headers=viewer)).status_code == 404

    def disable_noaa(data: dict[str, Any]) -> None:
        data["providers"]["noaa"]["enabled"] = False

    disabled = settings.model_copy(
        update={"provider_config_path": provider_file(tmp_path, disable_noaa)}
    )
    async with client_for(disabled) as client:
        response = await declare(client, operator, provider="noaa")
        assert response.status_code == 409, response.text
        assert "disabled" in response.json()["message"]


async def test_redis_breaking_before_the_breaker_leaves_nothing_applied(
    settings: Settings, database_url: str, redis_url: str, redis_proxy: TcpProxy
) -> None:
    """The job pauses and the flag are written first (PostgreSQL), the breaker last (Redis):
    with Redis gone by then the declaration answers 503 and its transaction rolls back."""
    proxied = settings.model_copy(
        update={
            "redis_url": redis_proxy.url_for(redis_url),
            "rate_limit_storage_url": redis_proxy.url_for(redis_url),
        }
    )
    operator = bearer(settings, Role.OPERATOR)
    flags_before = sql(database_url, "SELECT name, version FROM runtime_flags ORDER BY name")
    audit_before = sql(database_url, "SELECT count(*) FROM audit_log")
    async with client_for(proxied) as client:
        await redis_proxy.close()
        response = await declare(client, operator, actions={"fallback": True})
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "unavailable"
        assert "Redis" in response.json()["message"]
        await redis_proxy.start()

    assert sql(database_url, "SELECT count(*) FROM provider_outages") == [(0,)]
    assert sql(database_url, "SELECT count(*) FROM job_pauses") == [(0,)]
    assert sql(database_url, "SELECT name, version FROM runtime_flags ORDER BY name") == (
        flags_before
    )
    assert sql(database_url, "SELECT count(*) FROM audit_log") == audit_before
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await redis.hget("resilience:breaker:eia", "state") in (None, "", "closed")
    finally:
        await redis.aclose()


async def test_a_resolve_with_redis_gone_changes_nothing(
    settings: Settings, database_url: str, redis_url: str, redis_proxy: TcpProxy
) -> None:
    proxied = settings.model_copy(
        update={
            "redis_url": redis_proxy.url_for(redis_url),
            "rate_limit_storage_url": redis_proxy.url_for(redis_url),
        }
    )
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(proxied) as client:
        declared = await declare(client, operator)
        assert declared.status_code == 201, declared.text
        await redis_proxy.close()
        response = await client.post(
            f"{OUTAGES}/{declared.json()['id']}/resolve",
            json={"force": True, "backfill": False},
            headers=operator,
        )
        assert response.status_code == 503, response.text
        await redis_proxy.start()
    assert sql(database_url, "SELECT status FROM provider_outages") == [("open",)]
    assert sql(database_url, "SELECT count(*) FROM job_pauses") == [(len(EIA_JOBS),)]
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await redis.hget("resilience:breaker:eia", "state") == "forced_open"
    finally:
        await redis.aclose()
