"""Security headers, HSTS only over https, the CORS allow-list, the body size limit and gzip,
through the real app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request

from app.main import create_app
from app.settings import Settings
from tests.support.apps import running_app

ERROR_KEYS = {"error", "message", "request_id", "details"}
ALLOWED = "https://console.example.com"


def _app(settings: Settings, **update: Any) -> FastAPI:
    """The real app plus a body-reading route and a large response."""
    router = APIRouter()

    @router.post("/_test/echo-size")
    async def echo_size(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @router.get("/_test/large")
    async def large() -> dict[str, str]:
        return {"text": "aurum " * 400}  # ~2.4 KB of JSON

    app = create_app(settings.model_copy(update=update))
    app.include_router(router)
    return app


def _client(app: FastAPI, *, ip: str = "127.0.0.1", scheme: str = "http") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://aurum.test")


async def test_every_response_has_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health"), await client.get("/v1/nothing")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        csp = response.headers["content-security-policy"]
        assert csp.startswith("default-src 'none'") and "frame-ancestors 'none'" in csp
        assert len(response.headers.get_list("content-security-policy")) == 1
        assert "strict-transport-security" not in response.headers  # plain http


async def test_the_docs_page_gets_a_csp_that_lets_it_load(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    csp = docs.headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in csp and "frame-ancestors 'none'" in csp
    openapi = await client.get("/openapi.json")
    assert openapi.headers["content-security-policy"].startswith("default-src 'none'")


async def test_hsts_only_over_https(settings: Settings) -> None:
    app = _app(settings, trusted_proxy_cidrs=["10.0.0.0/8"])
    async with running_app(app):
        async with _client(app, scheme="https") as direct:
            tls = await direct.get("/health")
        async with _client(app, ip="10.0.0.4") as proxy:
            proxied = await proxy.get("/health", headers={"X-Forwarded-Proto": "https"})
        async with _client(app, ip="198.51.100.3") as stranger:
            claimed = await stranger.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert tls.headers["strict-transport-security"].startswith("max-age=")
    assert "strict-transport-security" in proxied.headers
    assert "strict-transport-security" not in claimed.headers


async def test_cors_answers_only_allowed_origins(settings: Settings) -> None:
    app = _app(settings, cors_allow_origins=[ALLOWED])
    async with running_app(app) as client:
        allowed = await client.get("/health", headers={"Origin": ALLOWED})
        other = await client.get("/health", headers={"Origin": "https://evil.example"})
        preflight = await client.options(
            "/health",
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "X-API-Key",
            },
        )
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert preflight.headers["x-content-type-options"] == "nosniff"  # hardening wraps CORS


async def test_no_cors_without_an_allow_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in response.headers


async def test_a_body_over_the_limit_is_413_by_content_length(settings: Settings) -> None:
    app = _app(settings, max_body_bytes=1024)
    async with running_app(app) as client:
        small = await client.post("/_test/echo-size", content=b"x" * 1024)
        large = await client.post("/_test/echo-size", content=b"x" * 1025)
    assert small.json() == {"received": 1024}
    assert large.status_code == 413
    body = large.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] == "payload_too_large"
    assert "1024 bytes" in body["message"] and "AURUM_MAX_BODY_BYTES" in body["message"]
    assert body["request_id"] == large.headers["x-request-id"]
    assert large.headers["x-content-type-options"] == "nosniff"


async def test_a_chunked_body_over_the_limit_is_413_while_streaming(settings: Settings) -> None:
    async def chunks(count: int) -> AsyncIterator[bytes]:
        for _ in range(count):
            yield b"x" * 400

    app = _app(settings, max_body_bytes=1024)
    async with running_app(app) as client:
        small = await client.post("/_test/echo-size", content=chunks(2))
        large = await client.post("/_test/echo-size", content=chunks(5))
    assert small.json() == {"received": 800}
    assert large.status_code == 413
    assert set(large.json()) == ERROR_KEYS
    assert large.json()["error"] == "payload_too_large"


async def test_gzip_above_one_kilobyte_only(settings: Settings) -> None:
    app = _app(settings)
    async with running_app(app) as client:
        large = await client.get("/_test/large", headers={"Accept-Encoding": "gzip"})
        small = await client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert large.headers["content-encoding"] == "gzip"
    assert large.json()["text"].startswith("aurum aurum")  # httpx decompresses it
    assert int(large.headers["content-length"]) < 1024
    assert "content-encoding" not in small.headers


async def test_responses_vary_on_accept_encoding_even_when_not_compressed(
    settings: Settings,
) -> None:
    app = _app(settings)
    async with running_app(app) as client:
        gzipped = await client.get("/_test/large", headers={"Accept-Encoding": "gzip"})
        plain = await client.get("/_test/large", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    for response in (gzipped, plain):
        assert response.headers.get_list("vary") == ["Accept-Encoding"]
