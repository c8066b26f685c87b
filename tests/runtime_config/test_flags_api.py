"""The flags API with the runbooks' exact bodies: auth, typed schemas, versions, ETags,
history, audit, and TTL expiry as a system action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy.ext.asyncio import create_async_engine

from app.auth.principal import Role
from app.db.engine import build_sessionmaker, libpq_url
from app.runtime_config.service import expire_due
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer

URL = "/runtime-config/v1/features"


async def test_the_runbook_command_needs_an_operator_token(settings: Settings) -> None:
    body = {"enabled": True, "configuration": {"ttl_seconds": 900}}
    async with client_for(settings) as client:
        anonymous = await client.post(f"{URL}/external_read_cache", json=body)
        assert anonymous.status_code == 401
        viewer = await client.post(
            f"{URL}/external_read_cache", json=body, headers=bearer(settings, Role.VIEWER)
        )
        assert viewer.status_code == 403
        operator = await client.post(
            f"{URL}/external_read_cache", json=body, headers=bearer(settings, Role.OPERATOR)
        )
        assert operator.status_code == 200, operator.text
        flag = operator.json()
        assert flag["enabled"] is True and flag["configuration"] == {"ttl_seconds": 900}
        assert operator.headers["etag"] == f'"external_read_cache-v{flag["version"]}"'

        undo = await client.post(
            f"{URL}/external_read_cache",
            json={"enabled": False},
            headers=bearer(settings, Role.OPERATOR),
        )
        assert undo.json()["enabled"] is False
        assert undo.json()["configuration"] == {"ttl_seconds": 900}  # kept
        assert undo.json()["version"] == flag["version"] + 1


async def test_runbook_batch_and_rate_bodies_are_accepted(settings: Settings) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        ingest = await client.post(
            f"{URL}/external_ingest",
            json={"enabled": True, "configuration": {"batch_size": 500}},
            headers=operator,
        )
        assert ingest.json()["configuration"]["batch_size"] == 500
        rate = await client.post(
            f"{URL}/api_rate_limit",
            json={"enabled": True, "configuration": {"rps": 50}},
            headers=operator,
        )
        assert rate.json()["configuration"] == {"rps": 50}


async def test_bad_configuration_is_422_naming_the_field_and_writes_nothing(
    settings: Settings, database_url: str
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        before = (await client.get(f"{URL}/external_ingest", headers=operator)).json()
        for config in ({"batch_size": 0}, {"batch_size": 500, "colour": "red"}):
            response = await client.post(
                f"{URL}/external_ingest",
                json={"enabled": True, "configuration": config},
                headers=operator,
            )
            assert response.status_code == 422
            assert "configuration." in response.json()["message"]
        after = (await client.get(f"{URL}/external_ingest", headers=operator)).json()
        assert after["version"] == before["version"]


async def test_unknown_flag_is_404_listing_the_known_ones(settings: Settings) -> None:
    async with client_for(settings) as client:
        response = await client.post(
            f"{URL}/warp_drive", json={"enabled": True}, headers=bearer(settings, Role.OPERATOR)
        )
    assert response.status_code == 404
    assert "external_read_cache" in response.json()["message"]


async def test_stale_if_match_is_412(settings: Settings) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        current = await client.get(f"{URL}/provider_fallback", headers=operator)
        tag = current.headers["etag"]
        first = await client.post(
            f"{URL}/provider_fallback",
            json={"enabled": True, "configuration": {"noaa": True}},
            headers=operator | {"If-Match": tag},
        )
        assert first.status_code == 200
        stale = await client.post(
            f"{URL}/provider_fallback",
            json={"enabled": False},
            headers=operator | {"If-Match": tag},
        )
        assert stale.status_code == 412
        assert stale.json()["details"]["current_etag"] == first.headers["etag"]


async def test_delete_resets_to_default_and_history_keeps_every_version(
    settings: Settings,
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        await client.post(
            f"{URL}/adaptive_rate_limiting",
            json={"enabled": False, "reason": "provider flapping"},
            headers=operator,
        )
        reset = await client.delete(f"{URL}/adaptive_rate_limiting", headers=operator)
        assert reset.json()["enabled"] is True  # the default
        history = (
            await client.get(f"{URL}/adaptive_rate_limiting/history", headers=operator)
        ).json()
        assert [h["version"] for h in history][:2] == [
            reset.json()["version"],
            reset.json()["version"] - 1,
        ]
        listing = (await client.get(URL, headers=bearer(settings, Role.VIEWER))).json()
        assert {flag["name"] for flag in listing} >= {"external_read_cache", "api_rate_limit"}


async def test_ttl_reverts_to_the_previous_value_as_an_audited_system_action(
    settings: Settings, database_url: str
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        await client.post(
            f"{URL}/external_ingest",
            json={"enabled": True, "configuration": {"batch_size": 800}},
            headers=operator,
        )
        temporary = await client.post(
            f"{URL}/external_ingest",
            json={"enabled": True, "configuration": {"batch_size": 50}, "ttl_seconds": 60},
            headers=operator,
        )
        assert temporary.json()["expires_at"]

    engine = create_async_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        later = datetime.now(UTC) + timedelta(seconds=61)
        assert "external_ingest" in await expire_due(session, now=later)
    await engine.dispose()

    async with client_for(settings) as client:
        flag = (await client.get(f"{URL}/external_ingest", headers=operator)).json()
    assert flag["configuration"]["batch_size"] == 800 and flag["expires_at"] is None
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "SELECT principal, reason FROM audit_log WHERE action = 'flag.expire' "
            "AND target = 'flag:external_ingest' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row == ("system", "ttl expired")


async def test_runbook_curl_bodies_work_without_a_json_content_type(settings: Settings) -> None:
    """`curl -d '{...}'` labels JSON as form data; the runbooks add only an auth header."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with client_for(settings) as client:
        response = await client.post(
            f"{URL}/external_read_cache",
            content=b'{"enabled": true, "configuration": {"ttl_seconds": 900}}',
            headers=bearer(settings, Role.OPERATOR) | form,
        )
        assert response.status_code == 200, response.text
        broken = await client.post(
            f"{URL}/external_read_cache",
            content=b"enabled=true",
            headers=bearer(settings, Role.OPERATOR) | form,
        )
        assert broken.status_code == 422 and "not valid JSON" in broken.json()["message"]


async def test_the_rate_limit_flag_shows_the_limit_really_in_force(settings: Settings) -> None:
    """Reset, the flag configures no override, and the read shows AURUM_RATE_LIMIT_DEFAULT's
    per-second limit as the one enforced (not a schema default that nothing applies)."""
    local = settings.model_copy(update={"rate_limit_default": "100/60 seconds;20/1 second"})
    operator = bearer(local, Role.OPERATOR)
    async with client_for(local) as client:
        reset = await client.delete(f"{URL}/api_rate_limit?wait=true", headers=operator)
        assert reset.status_code == 200, reset.text
        flag = (await client.get(f"{URL}/api_rate_limit", headers=operator)).json()
        assert flag["enabled"] is False
        assert "rps" not in flag["configuration"]
        assert flag["in_force"] == {"rps": 20.0, "source": "AURUM_RATE_LIMIT_DEFAULT"}

        await client.post(
            f"{URL}/api_rate_limit?wait=true",
            json={"enabled": True, "configuration": {"rps": 50}},
            headers=operator,
        )
        flag = (await client.get(f"{URL}/api_rate_limit", headers=operator)).json()
        assert flag["in_force"] == {"rps": 50.0, "source": "api_rate_limit flag"}
        listed = (await client.get(URL, headers=operator)).json()
        assert [f["in_force"] for f in listed if f["name"] == "api_rate_limit"] == [
            flag["in_force"]
        ]
        await client.delete(f"{URL}/api_rate_limit?wait=true", headers=operator)
        flag = (await client.get(f"{URL}/api_rate_limit", headers=operator)).json()
        assert flag["in_force"]["rps"] == 20.0
