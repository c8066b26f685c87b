"""A declaration or a resolve whose commit fails takes back its Redis side: PostgreSQL refuses
the commit itself (a deferred constraint trigger, checked at COMMIT, after the breaker was
forced open or closed), the answer is 503 and nothing stays half-applied."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.auth.principal import Role
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.scheduling import sql

API = "/v1/admin/external"
CREATE = """
CREATE OR REPLACE FUNCTION test_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$;
CREATE CONSTRAINT TRIGGER test_refuse_commit AFTER INSERT OR UPDATE ON provider_outages
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_commit();
"""
DROP = """
DROP TRIGGER IF EXISTS test_refuse_commit ON provider_outages;
DROP FUNCTION IF EXISTS test_refuse_commit();
"""


@pytest.fixture
def refuse_commits(database_url: str) -> Iterator[None]:
    """Call it to make every commit touching an outage fail; dropped after the test."""
    yield
    sql(database_url, DROP)


async def test_a_failed_commit_puts_the_breaker_back(
    settings: Settings, database_url: str, refuse_commits: None
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:

        async def breaker() -> str:
            body = (await client.get(f"{API}/circuit-breakers/noaa", headers=operator)).json()
            return str(body["state"])

        async def paused() -> set[str]:
            jobs = (await client.get(f"{API}/jobs", headers=operator)).json()["jobs"]
            return {job["id"] for job in jobs if job["paused"]}

        sql(database_url, CREATE)
        body = {"provider": "noaa", "reason": "NOAA 5xx"}
        refused = await client.post(f"{API}/outages", json=body, headers=operator)
        assert refused.status_code == 503, refused.text
        assert "could not commit" in refused.json()["message"]
        assert await breaker() == "closed"
        assert await paused() == set()
        assert sql(database_url, "SELECT count(*) FROM provider_outages") == [(0,)]
        cache = (await client.get("/runtime-config/v1/features/external_read_cache",
                                  headers=operator)).json()  # fmt: skip
        assert cache["enabled"] is False

        sql(database_url, DROP)
        declared = await client.post(f"{API}/outages", json=body, headers=operator)
        assert declared.status_code == 201, declared.text
        assert await breaker() == "forced_open"

        sql(database_url, CREATE)
        resolve = f"{API}/outages/{declared.json()['id']}/resolve"
        failed = await client.post(
            resolve, json={"force": True, "backfill": False}, headers=operator
        )
        assert failed.status_code == 503, failed.text
        assert await breaker() == "forced_open"
        assert await paused() == {"ingest.noaa", "probe.noaa"}
        status = sql(database_url, "SELECT status FROM provider_outages")
        assert status == [("open",)]

        sql(database_url, DROP)
        resolved = await client.post(
            resolve, json={"force": True, "backfill": False}, headers=operator
        )
        assert resolved.status_code == 200, resolved.text
        assert await breaker() == "closed"
