"""One sandbox server for the read-only tests (NOAA's throttle off so paging is quick);
tests that advance the data version start their own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.sandbox import SandboxServer

KEY = {"api_key": "sandbox", "file_type": "json"}
TOKEN = {"token": "sandbox"}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(enforce_limits=False) as server:
        yield server


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    sandbox.sandbox.faults.clear()
    with httpx.Client(base_url=sandbox.url, timeout=30) as client:
        yield client
    sandbox.sandbox.faults.clear()


def truth(http: httpx.Client, provider: str, key: str) -> dict[str, float | None]:
    body = http.get(f"/_sandbox/truth/{provider}/{key}").json()
    return {o["date"]: o["value"] for o in body["observations"]}
