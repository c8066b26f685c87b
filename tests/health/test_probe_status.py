"""The probe jobs keep `external:provider_status:<provider>` current with nobody reading
health (the outage runbook reads it with redis-cli)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from app.resilience.quota_windows import windows
from app.settings import Settings
from tests.support.apps import client_for
from tests.support.scheduling import provider_file


def _fast_probes(data: dict[str, Any]) -> None:
    data["jobs"]["probe"] = "every 1s"


async def test_probes_write_every_providers_status_key(
    settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    names = ("fred", "eia", "noaa", "worldbank")
    redis = Redis.from_url(redis_url, decode_responses=True)
    await redis.delete(*(f"external:provider_status:{p}" for p in names))
    local = settings.model_copy(
        update={
            "scheduler_enabled": True,
            "leader_poll_seconds": 0.2,
            "provider_config_path": provider_file(tmp_path, _fast_probes),
        }
    )
    stored: dict[str, Any] = {}
    try:
        async with client_for(local):

            async def written() -> bool:
                for p in names:
                    raw = await redis.get(f"external:provider_status:{p}")
                    if raw:
                        stored[p] = json.loads(raw)
                return len(stored) == len(names)

            for _ in range(150):
                if await written():
                    break
                await asyncio.sleep(0.1)
        assert set(stored) == set(names)
        for body in stored.values():
            assert body["status"] in {"healthy", "degraded", "down", "disabled"}
            assert body["reason"] and body["updated_at"]
    finally:
        # The probes' requests counted against the shared quotas: leave them as they were.
        await redis.delete(*(window.key for p in names for window in windows(p)))
        await redis.aclose()
