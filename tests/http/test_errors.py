"""Every 4xx/5xx has the one JSON shape, with a request id and an actionable message."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.main import create_app
from app.settings import Settings
from tests.support.apps import running_app

ERROR_KEYS = {"error", "message", "request_id", "details"}


class _Toggle(BaseModel):
    enabled: bool
    ttl_seconds: int = Field(default=60, ge=1, le=86_400)


def _app_with_probe_routes(settings: Settings) -> Any:
    """The real app plus two routes that exercise body validation and a crash."""
    router = APIRouter()

    @router.post("/_test/toggle")
    async def toggle(body: _Toggle) -> dict[str, Any]:
        return body.model_dump()

    @router.get("/_test/crash")
    async def crash() -> None:
        raise RuntimeError("secret internal detail")

    app = create_app(settings)
    app.include_router(router)
    return app


async def test_unknown_route_is_404_in_the_json_shape(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] == "not_found"
    assert "/v1/nothing-here" in body["message"]
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_405_in_the_json_shape(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.delete("/health")
    assert response.status_code == 405
    assert set(response.json()) == ERROR_KEYS


async def test_a_sane_caller_request_id_is_kept(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/nope", headers={"X-Request-ID": "runbook-step-0042"})
    assert response.headers["x-request-id"] == "runbook-step-0042"
    assert response.json()["request_id"] == "runbook-step-0042"


async def test_a_forged_request_id_is_replaced(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/health", headers={"X-Request-ID": 'x"\n{"level":"error"}'})
    assert response.headers["x-request-id"] != 'x"\n{"level":"error"}'
    assert len(response.headers["x-request-id"]) == 32


async def test_malformed_json_is_422_saying_so(settings: Settings) -> None:
    async with running_app(_app_with_probe_routes(settings)) as client:
        response = await client.post(
            "/_test/toggle",
            content=b'{"enabled": tru',
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 422
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert "not valid JSON" in body["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"enabled": "\xff\xfe"}', "not UTF-8"),
    ],
    ids=["deeply-nested", "not-utf8"],
)
async def test_an_unparseable_body_is_422_like_any_malformed_json(
    settings: Settings, body: bytes, says: str
) -> None:
    async with running_app(_app_with_probe_routes(settings)) as client:
        response = await client.post(
            "/_test/toggle", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "validation_error"
    assert "not valid JSON" in error["message"] and says in error["message"]
    assert error["details"][0]["field"] == "body"


async def test_a_bad_field_is_422_naming_the_field(settings: Settings) -> None:
    async with running_app(_app_with_probe_routes(settings)) as client:
        response = await client.post("/_test/toggle", json={"enabled": "maybe", "ttl_seconds": 0})
    assert response.status_code == 422
    body = response.json()
    assert "'enabled'" in body["message"] and "'ttl_seconds'" in body["message"]
    assert {d["field"] for d in body["details"]} == {"enabled", "ttl_seconds"}


async def test_an_unhandled_error_is_a_500_that_leaks_nothing(settings: Settings) -> None:
    async with running_app(_app_with_probe_routes(settings)) as client:
        response = await client.get("/_test/crash")
    assert response.status_code == 500
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] == "internal_error"
    assert "secret internal detail" not in response.text
    assert body["request_id"] == response.headers["x-request-id"]
