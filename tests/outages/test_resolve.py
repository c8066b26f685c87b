"""Resolving an outage through the API against the provider sandbox: the probe first, then
exactly the declaration's mitigation undone (a setting someone changed meanwhile left alone
and reported), the backfill queued for the outage and revision windows; twice is a 409; a
forgotten outage resolves itself at its expiry, as `system`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.auth.principal import Role
from app.providers.revisions import Frequency, revision_start
from app.sandbox.server import SandboxServer
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.auth import bearer
from tests.support.outage import API, Outage, outage_of
from tests.support.scheduling import finished_run, sql

OUTAGES = f"{API}/outages"
# An EIA series id with slashes, monthly: its revision window is 24 months.
SERIES = "electricity/retail-sales:monthly:CO/RES:price"
FLAGS = "/runtime-config/v1/features"


@pytest.fixture
def services(
    settings: Settings, database_url: str, redis_url: str, sandbox: SandboxServer, tmp_path: Path
) -> dict[str, Any]:
    return {
        "settings": settings, "database_url": database_url, "redis_url": redis_url,
        "sandbox": sandbox, "tmp_path": tmp_path,
    }  # fmt: skip


async def _declare(outage: Outage, **body: Any) -> dict[str, Any]:
    response = await outage.client.post(
        OUTAGES, json={"provider": "eia", "reason": "EIA 5xx"} | body, headers=outage.headers
    )
    assert response.status_code == 201, response.text
    declared: dict[str, Any] = response.json()
    return declared


async def _state(outage: Outage) -> dict[str, Any]:
    client, headers = outage.client, outage.headers
    jobs = (await client.get(f"{API}/jobs", headers=headers)).json()["jobs"]
    breaker = (await client.get(f"{API}/circuit-breakers/eia", headers=headers)).json()
    cache = (await client.get(f"{FLAGS}/external_read_cache", headers=headers)).json()
    return {
        "paused": {job["id"] for job in jobs if job["paused"]},
        "breaker": breaker["state"],
        "cache": (cache["enabled"], cache["configuration"]),
    }


async def test_resolve_probes_undoes_what_is_still_as_left_and_backfills(
    services: dict[str, Any],
) -> None:
    async with outage_of("eia", SERIES, **services) as outage:
        assert (await outage.run())["status"] == "succeeded"
        outage.fault()
        declared = await _declare(outage)
        resolve = f"{OUTAGES}/{declared['id']}/resolve"
        assert (await _state(outage))["breaker"] == "forced_open"

        # Someone lengthens the read cache's TTL during the outage: their change survives.
        changed = await outage.client.post(
            f"{FLAGS}/external_read_cache",
            json={"enabled": True, "configuration": {"ttl_seconds": 60}, "reason": "longer"},
            headers=outage.headers,
        )
        assert changed.status_code == 200, changed.text

        # The provider still fails: 409 with the probe's error, and nothing is undone.
        failing = await outage.client.post(resolve, json={}, headers=outage.headers)
        assert failing.status_code == 409, failing.text
        assert "HTTP 503" in failing.json()["message"]
        still = await _state(outage)
        assert still["breaker"] == "forced_open"
        assert still["paused"] == {"ingest.eia", "ingest.eia.bulk", "probe.eia"}

        outage.lift()
        resolved = await outage.client.post(
            resolve, json={"reason": "EIA answers again"}, headers=outage.headers
        )
        assert resolved.status_code == 200, resolved.text
        body = resolved.json()
        assert body["status"] == "resolved" and body["resolved_by"] == "jwt:tester"
        assert body["resolve_reason"] == "EIA answers again"
        resolution = body["resolution"]
        assert resolution["probe"]["ok"] is True and resolution["probe"]["forced"] is False
        undone = {(u["action"], u["target"]) for u in resolution["undone"]}
        assert undone == {
            ("force_open_breaker", "eia"),
            *(("pause_job", job) for job in ("ingest.eia", "ingest.eia.bulk", "probe.eia")),
        }
        [left] = resolution["left_alone"]
        assert (left["action"], left["target"]) == ("flag", "external_read_cache")
        assert left["expected"]["configuration"] == {"ttl_seconds": 900}
        assert left["found"]["configuration"] == {"ttl_seconds": 60}
        assert resolution["backfill_refused"] is None

        after = await _state(outage)
        assert after == {"paused": set(), "breaker": "closed", "cache": (True, {"ttl_seconds": 60})}

        # The backfill: the outage's start minus a monthly series' 24 months, to today.
        today = datetime.now(UTC).date()
        backfill = body["backfill"]
        start = revision_start(Frequency.MONTHLY, today)
        assert backfill["window_start"] == f"{start.isoformat()}T00:00:00Z"
        assert backfill["window_end"] == f"{today.isoformat()}T00:00:00Z"
        run = await finished_run(outage.client, backfill["run_id"], outage.headers)
        assert run["trigger"] == "backfill" and run["status"] == "succeeded", run
        assert run["parameters"]["start"] == start.isoformat()
        assert run["parameters"]["datasets"] == [SERIES]
        shown = await outage.client.get(f"{OUTAGES}/{declared['id']}", headers=outage.headers)
        assert shown.json()["backfill"]["status"] == "succeeded"
        kinds = [entry["kind"] for entry in shown.json()["timeline"]]
        assert kinds[0] == "declared" and "undo" in kinds and "backfill" in kinds
        # The backfill run finishes after the resolve that queued it.
        assert kinds.index("resolved") < len(kinds) - 1 - kinds[::-1].index("backfill")
        report = await outage.client.get(
            f"{OUTAGES}/{declared['id']}", headers=outage.headers | {"Accept": "text/markdown"}
        )
        assert report.headers["content-type"] == "text/markdown; charset=utf-8"
        assert "EIA 5xx" in report.text

        again = await outage.client.post(resolve, json={}, headers=outage.headers)
        assert again.status_code == 409, again.text
        assert "already resolved" in again.json()["message"]


async def test_force_resolves_a_failing_provider_and_records_it(services: dict[str, Any]) -> None:
    async with outage_of("eia", SERIES, **services) as outage:
        declared = await _declare(outage, actions={"read_cache": False})
        outage.fault()
        resolved = await outage.client.post(
            f"{OUTAGES}/{declared['id']}/resolve",
            json={"force": True, "backfill": False},
            headers=outage.headers,
        )
        assert resolved.status_code == 200, resolved.text
        probe = resolved.json()["resolution"]["probe"]
        assert probe["ok"] is False and probe["forced"] is True and "503" in probe["error"]
        assert resolved.json()["backfill"] is None
        assert (await _state(outage))["paused"] == set()


async def test_an_expired_outage_resolves_itself_as_system(services: dict[str, Any]) -> None:
    def expire_every_second(data: dict[str, Any]) -> None:
        data["jobs"]["outage_expiry"] = "every 1s"

    async with outage_of("eia", SERIES, edit_more=expire_every_second, **services) as outage:
        declared = await _declare(outage, ttl_seconds=60)
        sql(
            services["database_url"],
            "UPDATE provider_outages SET expires_at = now() - interval '1 second' WHERE id = %s",
            declared["id"],
        )

        async def resolved() -> dict[str, Any] | None:
            body: dict[str, Any] = (
                await outage.client.get(f"{OUTAGES}/{declared['id']}", headers=outage.headers)
            ).json()
            return body if body["status"] == "resolved" else None

        body = None
        for _ in range(100):
            if body := await resolved():
                break
            await asyncio.sleep(0.1)
        assert body is not None, "the outage did not expire"
        assert body["resolved_by"] == "system" and body["resolve_reason"] == "expired"
        # What follows the expiry (health moving as the jobs resume) may come after it.
        kinds = [entry["kind"] for entry in body["timeline"]]
        assert "expired" in kinds and kinds.index("declared") < kinds.index("expired")
        assert body["backfill"]["run_id"] is not None
        after = await _state(outage)
        assert after["paused"] == set() and after["breaker"] == "closed"
        assert after["cache"][0] is False


async def test_the_read_cache_stays_on_while_another_outage_needs_it(settings: Settings) -> None:
    operator = bearer(settings, Role.OPERATOR)
    async with client_for(settings) as client:
        ids = {}
        for provider in ("eia", "fred"):
            response = await client.post(
                OUTAGES, json={"provider": provider, "reason": f"{provider} down"},
                headers=operator,
            )  # fmt: skip
            assert response.status_code == 201, response.text
            ids[provider] = response.json()["id"]
        body = {"force": True, "backfill": False}
        first = await client.post(f"{OUTAGES}/{ids['eia']}/resolve", json=body, headers=operator)
        assert first.status_code == 200, first.text
        [left] = first.json()["resolution"]["left_alone"]
        assert left["reason"] == "another outage is open" and left["outage_id"] == ids["fred"]
        cache = (await client.get(f"{FLAGS}/external_read_cache", headers=operator)).json()
        assert cache["enabled"] is True

        second = await client.post(f"{OUTAGES}/{ids['fred']}/resolve", json=body, headers=operator)
        assert second.status_code == 200, second.text
        assert ("flag", "external_read_cache") in {
            (u["action"], u["target"]) for u in second.json()["resolution"]["undone"]
        }
        cache = (await client.get(f"{FLAGS}/external_read_cache", headers=operator)).json()
        assert cache["enabled"] is False
