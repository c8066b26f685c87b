"""The collectors read the flags: the next ingest uses the `external_ingest` batch size, a
provider switched off by `provider_enabled` is skipped, `provider_fallback` uses the mirror."""

from __future__ import annotations

import logging
import math
import uuid

import pytest

from app.auth.principal import Role
from app.jobs.collect import (
    collect_provider,
    collection_allowed,
    collection_request,
    live_base_url,
)
from app.main import create_app
from app.providers.fred import FredCollector
from app.sandbox.server import SandboxServer
from app.settings import Settings
from tests.support.apps import running_app
from tests.support.auth import bearer

URL = "/runtime-config/v1/features"


async def test_the_next_ingest_uses_the_flag_batch_size(
    settings: Settings, sandbox: SandboxServer
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    app = create_app(settings)
    async with running_app(app) as client:
        resources = app.state.resources
        section = resources.providers.config.providers["fred"]
        try:
            await client.post(
                f"{URL}/external_ingest",
                json={"enabled": True, "configuration": {"batch_size": 2000}},
                headers=operator,
            )
            request = collection_request(
                "fred",
                section,
                base_url=sandbox.base_urls()["fred"],
                credential="sandbox",
                datasets=["DGS10"],
                flags=resources.flags.snapshot,
            )
            assert request.batch_size == 2000 != section.ingest.batch_size
            summary = await collect_provider(
                sessionmaker=resources.sessionmaker,
                collector=FredCollector(),
                client=resources.providers.client,
                request=request,
                tenant_id=f"t{uuid.uuid4().hex[:8]}",
            )
            expected = math.ceil(summary.rows_new / 2000)
            # One more when the last batch carries only the series' checkpoint.
            assert expected <= summary.batches <= expected + 1
            assert summary.batches < math.ceil(summary.rows_new / section.ingest.batch_size)
        finally:
            await client.delete(f"{URL}/external_ingest", headers=operator)
        unflagged = collection_request(
            "fred", section, base_url="http://x", credential="c", flags=resources.flags.snapshot
        )
        assert unflagged.batch_size == section.ingest.batch_size


async def test_provider_toggles_skip_a_provider_and_route_to_its_mirror(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    operator = bearer(settings, Role.OPERATOR)
    app = create_app(settings)
    async with running_app(app) as client:
        resources = app.state.resources
        flags = resources.flags.snapshot
        section = resources.providers.config.providers["noaa"]
        toggles = ("provider_enabled", "provider_fallback", "adaptive_rate_limiting")
        for name in toggles:  # other tests may have left them set: start from the defaults
            await client.delete(f"{URL}/{name}", headers=operator)
        try:
            await client.post(
                f"{URL}/provider_enabled",
                json={"enabled": True, "configuration": {"noaa": False}},
                headers=operator,
            )
            with caplog.at_level(logging.WARNING):
                assert collection_allowed("noaa", section, flags) is False
            assert "collection of noaa skipped" in caplog.text
            assert collection_allowed("fred", section, flags) is True

            mirrored = section.model_copy(update={"mirror_url": "http://mirror.invalid/noaa"})
            assert live_base_url("noaa", mirrored, flags) == section.base_url
            await client.post(
                f"{URL}/provider_fallback",
                json={"enabled": True, "configuration": {"noaa": True}},
                headers=operator,
            )
            assert live_base_url("noaa", mirrored, flags) == "http://mirror.invalid/noaa"
            assert live_base_url("fred", mirrored, flags) == section.base_url

            await client.post(
                f"{URL}/adaptive_rate_limiting",
                json={"enabled": True, "configuration": {"noaa": False}},
                headers=operator,
            )
            assert resources.providers.guards["noaa"].limiter.adaptive is False
            assert resources.providers.guards["fred"].limiter.adaptive is True
        finally:
            for name in toggles:
                await client.delete(f"{URL}/{name}", headers=operator)
