"""API keys: shown once, stored as a hash, refused when revoked or expired, admin-managed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from app.auth.principal import Role
from app.db.engine import build_sessionmaker, libpq_url
from app.db.models import ApiKey
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import new_api_key


async def test_admin_creates_a_key_that_works_and_is_stored_only_hashed(
    settings: Settings, database_url: str
) -> None:
    admin, _ = await new_api_key(database_url, Role.ADMIN)
    async with client_for(settings) as client:
        created = await client.post(
            "/v1/admin/api-keys",
            json={"name": "dashboard", "role": "viewer", "expires_in": "90d"},
            headers={"X-API-Key": admin},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        key = body["key"]
        assert key.startswith(f"aur_{body['prefix']}_") and len(key) >= 40
        expires = datetime.fromisoformat(body["expires_at"])
        assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)

        who = await client.get("/v1/admin/whoami", headers={"X-API-Key": key})
        assert who.json()["role"] == "viewer"

        listed = await client.get("/v1/admin/api-keys", headers={"X-API-Key": admin})
        assert all("key" not in item and "key_hash" not in item for item in listed.json())

    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SELECT key_hash FROM api_keys WHERE id = %s", (body["id"],)).fetchone()
        assert row is not None and key not in row[0] and len(row[0]) == 64


async def test_only_admins_manage_keys(settings: Settings, database_url: str) -> None:
    operator, _ = await new_api_key(database_url, Role.OPERATOR)
    async with client_for(settings) as client:
        response = await client.post(
            "/v1/admin/api-keys",
            json={"name": "x", "role": "admin"},
            headers={"X-API-Key": operator},
        )
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
        listing = await client.get("/v1/admin/api-keys", headers={"X-API-Key": operator})
        assert listing.status_code == 403


async def test_a_revoked_key_is_refused_at_once_on_the_replica_that_revoked_it(
    settings: Settings, database_url: str
) -> None:
    admin, _ = await new_api_key(database_url, Role.ADMIN)
    victim, victim_id = await new_api_key(database_url, Role.VIEWER)
    async with client_for(settings) as client:
        ok = await client.get("/v1/admin/whoami", headers={"X-API-Key": victim})
        assert ok.status_code == 200
        revoked = await client.delete(
            f"/v1/admin/api-keys/{victim_id}", headers={"X-API-Key": admin}
        )
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        refused = await client.get("/v1/admin/whoami", headers={"X-API-Key": victim})
        assert refused.status_code == 401
        assert refused.json()["message"] == "Invalid or expired credentials."


async def test_an_expired_key_is_refused(settings: Settings, database_url: str) -> None:
    key, key_id = await new_api_key(database_url, Role.VIEWER)
    engine = create_async_engine(database_url)
    async with build_sessionmaker(engine)() as session, session.begin():
        past = datetime.now(UTC) - timedelta(minutes=1)
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(expires_at=past))  # type: ignore[arg-type]
    await engine.dispose()
    async with client_for(settings) as client:
        response = await client.get("/v1/admin/whoami", headers={"X-API-Key": key})
    assert response.status_code == 401


async def test_garbage_and_unknown_keys_are_refused_alike(settings: Settings) -> None:
    async with client_for(settings) as client:
        for bad in ("nonsense", "aur_zzzzzzzz_" + "x" * 43, "aur_short_x"):
            response = await client.get("/v1/admin/whoami", headers={"X-API-Key": bad})
            assert response.status_code == 401
            assert response.json()["message"] == "Invalid or expired credentials."


async def test_revoking_an_unknown_key_is_404(settings: Settings, database_url: str) -> None:
    admin, _ = await new_api_key(database_url, Role.ADMIN)
    async with client_for(settings) as client:
        response = await client.delete(
            "/v1/admin/api-keys/00000000-0000-0000-0000-000000000000",
            headers={"X-API-Key": admin},
        )
    assert response.status_code == 404
    assert "GET /v1/admin/api-keys" in response.json()["message"]


async def test_a_bad_expiry_is_422_naming_the_field(settings: Settings, database_url: str) -> None:
    admin, _ = await new_api_key(database_url, Role.ADMIN)
    async with client_for(settings) as client:
        response = await client.post(
            "/v1/admin/api-keys",
            json={"name": "x", "role": "viewer", "expires_in": "forever"},
            headers={"X-API-Key": admin},
        )
    assert response.status_code == 422
    assert "expires_in" in response.json()["message"]


async def test_the_reason_given_for_a_new_key_is_in_its_audit_entry(
    settings: Settings, database_url: str
) -> None:
    admin, _ = await new_api_key(database_url, Role.ADMIN)
    async with client_for(settings) as client:
        created = await client.post(
            "/v1/admin/api-keys",
            json={"name": "grafana", "role": "viewer", "reason": "dashboard for the SRE team"},
            headers={"X-API-Key": admin},
        )
        assert created.status_code == 201, created.text
        entries = await client.get(
            "/v1/admin/audit",
            params={"action": "api_key.create", "target": f"api_key:{created.json()['id']}"},
            headers={"X-API-Key": admin},
        )
    assert entries.status_code == 200, entries.text
    items = entries.json()
    items = items.get("items", items) if isinstance(items, dict) else items
    assert [item["reason"] for item in items] == ["dashboard for the SRE team"]
