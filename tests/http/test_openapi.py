"""The OpenAPI document states the real error contract, and the docs routes follow
AURUM_API_DOCS_ENABLED (off by default in prod)."""

from __future__ import annotations

from typing import Any

import pytest

from app.http.openapi import ErrorBody
from app.main import create_app
from app.settings import Environment, Settings
from tests.support.apps import running_app

PROBES = {"/health", "/ready", "/metrics"}
ERROR_REF = "#/components/schemas/ErrorBody"
DOCS = ("/openapi.json", "/docs", "/redoc")


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


async def test_every_route_declares_its_errors_with_the_error_body(settings: Settings) -> None:
    async with running_app(create_app(settings)) as client:
        document = (await client.get("/openapi.json")).json()
    operations = _operations(document)
    assert len(operations) > 40
    missing = []
    for method, path, operation in operations:
        responses = operation["responses"]
        expected = {"422"} if path in PROBES else {"401", "403", "422", "429"}
        if not expected <= set(responses):
            missing.append((method, path, sorted(expected - set(responses))))
        for code, response in responses.items():
            if code[0] in "45":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (method, path, code)
    assert missing == []
    schema = document["components"]["schemas"]["ErrorBody"]
    assert set(schema["properties"]) == {"error", "message", "request_id", "details"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_routes_declare_the_errors_they_really_answer(settings: Settings) -> None:
    document = create_app(settings).openapi()

    def codes(method: str, path: str) -> set[str]:
        return set(document["paths"][path][method]["responses"])

    assert {"404", "412", "413"} <= codes("post", "/runtime-config/v1/features/{name}")
    assert "409" in codes("post", "/v1/admin/external/jobs/{job_id}/trigger")
    assert {"200", "202", "409"} <= codes("post", "/v1/admin/external/backfill")
    assert "503" in codes("get", "/ready")
    assert "503" in codes("get", "/v1/external/series")
    assert "404" not in codes("get", "/v1/admin/audit")
    assert "429" not in codes("get", "/health")  # exempt from the limiter


async def test_a_real_error_matches_the_declared_schema(settings: Settings) -> None:
    async with running_app(create_app(settings)) as client:
        response = await client.get("/v1/admin/whoami")
    assert response.status_code == 401
    ErrorBody.model_validate(response.json(), strict=True)


@pytest.mark.parametrize(
    ("env", "enabled", "served"),
    [
        (Environment.TEST, None, True),
        (Environment.DEV, None, True),
        (Environment.PROD, None, False),
        (Environment.PROD, True, True),
        (Environment.TEST, False, False),
    ],
)
async def test_the_docs_follow_the_setting(
    settings: Settings, env: Environment, enabled: bool | None, served: bool
) -> None:
    chosen = settings.model_copy(update={"env": env, "api_docs_enabled": enabled})
    async with running_app(create_app(chosen)) as client:
        for path in DOCS:
            response = await client.get(path)  # no credentials: open when on
            assert response.status_code == (200 if served else 404), path
