"""/health, /ready and /metrics: open, honest about each dependency."""

from __future__ import annotations

from pydantic import SecretStr

from app.embedded.ports import free_port
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


async def test_ready_checks_kafka_when_configured(settings: Settings, kafka_bootstrap: str) -> None:
    async with client_for(
        settings.model_copy(update={"kafka_bootstrap_servers": kafka_bootstrap})
    ) as client:
        response = await client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["kafka"]["status"] == "up"


async def test_ready_is_503_naming_what_is_down(settings: Settings) -> None:
    dead_redis = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "ready_check_timeout_seconds": 1}
    )
    async with client_for(dead_redis) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "not_ready"
    assert "redis is down" in body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["details"]["checks"]["postgres"]["status"] == "up"
    assert body["details"]["checks"]["redis"]["status"] == "down"


async def test_ready_times_out_an_unreachable_kafka(settings: Settings) -> None:
    dead_kafka = settings.model_copy(
        update={
            "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
            "ready_check_timeout_seconds": 1,
        }
    )
    async with client_for(dead_kafka) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert "kafka is down" in response.json()["message"]


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
