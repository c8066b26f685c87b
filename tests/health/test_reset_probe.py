"""An operator's reset of a breaker, or resume of a provider's ingest job, tests the provider
at once: the answer carries the probe's outcome and health follows it (no stale "recent
provider calls failed" once the probe succeeded). A probe the open breaker refused is
reported as refused, not as a failure."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from app.sandbox.server import SandboxServer
from app.settings import Settings
from tests.support.outage import API, Outage, outage_of

SERIES = "petroleum/pri/spt:weekly:RBRTE:value"
FAILED = "recent provider calls failed"


@pytest.fixture
def services(
    settings: Settings, database_url: str, redis_url: str, sandbox: SandboxServer, tmp_path: Path
) -> dict[str, Any]:
    return {
        "settings": settings, "database_url": database_url, "redis_url": redis_url,
        "sandbox": sandbox, "tmp_path": tmp_path,
    }  # fmt: skip


async def _down(outage: Outage) -> None:
    """A successful run, then a failed one: the breaker is open, health says calls failed."""
    assert (await outage.run())["status"] == "succeeded"
    outage.fault()
    assert (await outage.run())["status"] == "failed"
    health = await outage.health()
    assert health["breaker"]["state"] == "open" and FAILED in health["reasons"]


async def test_a_reset_probes_the_provider_and_health_follows(
    services: dict[str, Any], redis_url: str
) -> None:
    async with outage_of("eia", SERIES, **services) as outage:
        await _down(outage)
        reset = f"{API}/circuit-breakers/eia/reset"

        # Still failing: the probe says so, and so does health.
        body = (await outage.client.post(reset, headers=outage.headers)).json()
        assert body["probe"]["outcome"] == "failed", body["probe"]
        assert "HTTP 503" in body["probe"]["error"]
        assert FAILED in (await outage.health())["reasons"]

        outage.lift()
        body = (await outage.client.post(reset, headers=outage.headers)).json()
        probe = body["probe"]
        assert probe["outcome"] == "succeeded" and probe["error"] is None, probe
        assert FAILED not in probe["reasons"]
        assert body["state"] == "closed"
        health = await outage.health()
        assert health["breaker"]["state"] == "closed"
        assert FAILED not in health["reasons"], health["reasons"]
        assert health["last_success_at"] > health["last_error"]["at"]
        redis = Redis.from_url(redis_url, decode_responses=True)
        stored = json.loads(await redis.get("external:provider_status:eia") or "{}")
        await redis.aclose()
        assert FAILED not in stored["reasons"]


async def test_a_resume_probes_the_provider_and_marks_a_recovery(
    services: dict[str, Any],
) -> None:
    async with outage_of("eia", SERIES, **services) as outage:
        await _down(outage)
        paused = await outage.client.post(f"{API}/jobs/ingest.eia/pause", headers=outage.headers)
        assert paused.status_code == 200, paused.text
        outage.lift()
        await outage.client.post(f"{API}/circuit-breakers/eia/reset", headers=outage.headers)
        outage.fault()  # failing again: the resume's probe finds it
        resumed = await outage.client.post(f"{API}/jobs/ingest.eia/resume", headers=outage.headers)
        body = resumed.json()
        assert resumed.status_code == 200 and body["changed"] is True, body
        assert body["probe"]["outcome"] == "failed"
        assert not any("paused" in r for r in body["probe"]["reasons"]), body["probe"]
        assert FAILED in (await outage.health())["reasons"]
        assert outage.recovery_pending()
        # Resuming a job that is not paused changes nothing and probes nothing.
        again = await outage.client.post(f"{API}/jobs/ingest.eia/resume", headers=outage.headers)
        assert "probe" not in again.json()


def _probe_every_second(data: dict[str, Any]) -> None:
    data["jobs"]["probe"] = "every 1s"


async def test_a_probe_refused_by_an_open_breaker_is_not_logged_as_failed(
    services: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.jobs.probing")
    async with outage_of("eia", SERIES, edit_more=_probe_every_second, **services) as outage:
        forced = await outage.client.post(
            f"{API}/circuit-breakers/eia/force-open", headers=outage.headers
        )
        assert forced.status_code == 200, forced.text
        for _ in range(50):
            if any("refused" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.1)
        messages = [r.getMessage() for r in caplog.records if r.name == "app.jobs.probing"]
        assert any(m.startswith("probe of eia refused by its circuit breaker") for m in messages)
        assert not any("failed" in m for m in messages), messages
