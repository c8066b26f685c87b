"""/health, /ready and /metrics: open, honest about each dependency."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from app.embedded.ports import free_port
from app.main import create_app
from app.monitoring.readiness import Phase
from app.settings import Settings
from tests.support.apps import client_for


async def test_health_is_open_and_does_no_io(settings: Settings) -> None:
    # Broken dependency URLs: /health must still answer, since it touches nothing.
    broken = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with client_for(broken) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["x-request-id"]


async def test_ready_reports_each_dependency_with_latency(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["postgres"]["status"] == "up" and checks["postgres"]["latency_ms"] >= 0
    assert checks["redis"]["status"] == "up" and checks["redis"]["latency_ms"] >= 0
    assert checks["kafka"]["status"] == "off"
    assert response.json()["status"] == "ready" and response.json()["phase"] == "serving"


async def test_ready_checks_kafka_when_configured(settings: Settings, kafka_bootstrap: str) -> None:
    async with client_for(
        settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap})
    ) as client:
        response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["kafka"]["status"] == "up"


async def test_ready_stays_200_and_degraded_naming_what_is_down(settings: Settings) -> None:
    # Every replica shares Redis: failing readiness on it would empty the Service at once.
    dead_redis = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "ready_check_timeout_seconds": 1}
    )
    async with client_for(dead_redis) as client:
        response = await client.get("/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded" and body["phase"] == "serving"
    assert body["checks"]["postgres"]["status"] == "up"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["redis"]["error"]


async def test_ready_reports_an_unreachable_kafka_without_failing(settings: Settings) -> None:
    dead_kafka = settings.model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "ready_check_timeout_seconds": 1,
        }
    )
    async with client_for(dead_kafka) as client:
        response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["kafka"]["status"] == "down"


async def test_ready_is_503_while_starting_and_draining(settings: Settings) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://aurum.test") as client:
        starting = await client.get("/ready")  # the lifespan has not run
        assert starting.status_code == 503, starting.text
        assert starting.json()["error"] == "not_ready"
        assert starting.json()["details"]["phase"] == "starting"
        async with app.router.lifespan_context(app):
            assert (await client.get("/ready")).status_code == 200
            app.state.replica.enter(Phase.DRAINING)  # what SIGTERM does (app/cli/serving.py)
            draining = await client.get("/ready")
            assert draining.status_code == 503
            assert draining.json()["details"]["phase"] == "draining"
            assert (await client.get("/health")).status_code == 200  # alive while draining


async def test_metrics_are_open_and_labelled_by_route_template(client) -> None:  # type: ignore[no-untyped-def]
    await client.get("/health")
    await client.get("/no/such/path/12345")
    text = (await client.get("/metrics")).text
    assert 'handler="/health"' in text
    assert "/no/such/path/12345" not in text  # raw paths never become labels
    assert "aurum_build_info" in text


async def test_metrics_can_require_a_bearer_token(settings: Settings) -> None:
    token = "scrape-" + "k3y" * 12
    async with client_for(
        settings.model_copy(update={"metrics_bearer_token": SecretStr(token)})
    ) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized"
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and "http_requests_total" in ok.text
