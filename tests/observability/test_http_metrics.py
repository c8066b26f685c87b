"""HTTP metrics are recorded for every response, refusals before routing included."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from app.settings import Settings
from tests.support.apps import client_for


def _count(handler: str, status: str) -> float:
    labels = {"method": "GET", "status": status, "handler": handler}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


async def test_routed_and_refused_requests_are_both_counted(settings: Settings) -> None:
    routed, refused = _count("/health", "200"), _count("none", "401")
    async with client_for(settings) as client:
        health: httpx.Response = await client.get("/health")
        whoami: httpx.Response = await client.get("/v1/admin/whoami")
    assert (health.status_code, whoami.status_code) == (200, 401)
    # The route template labels a routed request; a refusal before routing has none.
    assert _count("/health", "200") == routed + 1
    assert _count("none", "401") == refused + 1
